"""The `strata` command line: wires verbs to stage functions, nothing else.

Stage modules stay light at import (no pyarrow/pandas/sklearn at module level) because DVC starts a fresh
process per stage and `strata --help` must be instant. Domain errors become one line and an exit code here,
at the edge, and nowhere else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from stages import evaluate, ingest, simulate, split, train, validate
from strata.errors import StrataError
from strata.registry import commands as models
from strata.review import lineage, report
from strata.review import snapshot_commands as snapshots
from strata.serving import predict_command
from strata.serving import server as serve
from strata.sources import refresh
from strata.storage import commands as storage

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="strata",
    help="strata: a data-versioned ML pipeline on DVC. Stages run from dvc.yaml; tools for reviewers and CI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def edge(name: str, func: F) -> F:
    """Turn a StrataError raised anywhere below into `strata NAME: error: ...` and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StrataError as exc:
            message = " ".join(str(exc).split())  # always one line
            typer.echo(f"strata {name}: error: {message}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def register(target: typer.Typer, name: str, func: Callable[..., Any], group: str = "") -> None:
    """Add ``func`` as command ``name`` (help = its docstring's first paragraph), behind the error edge."""
    doc = (func.__doc__ or "").strip().split("\n\n")[0]
    target.command(name, help=doc)(edge(f"{group} {name}".strip(), func))


VERBS: dict[str, Callable[..., Any]] = {
    "simulate": simulate.command,
    "ingest": ingest.command,
    "refresh": refresh.command,
    "validate": validate.command,
    "split": split.command,
    "train": train.command,
    "evaluate": evaluate.command,
    "predict": predict_command.command,
    "serve": serve.command,
    "lineage": lineage.command,
    "report": report.command,
}
SNAPSHOT_VERBS: dict[str, Callable[..., Any]] = {
    "list": snapshots.list_command,
    "show": snapshots.show_command,
    "diff": snapshots.diff_command,
    "checkout": snapshots.checkout_command,
}

for _name, _func in VERBS.items():
    register(app, _name, _func)

for _name, _func in storage.COMMANDS.items():
    register(storage.app, _name, _func, group="storage")
app.add_typer(storage.app, name="storage")

snapshots_app = typer.Typer(
    help="Data snapshots at git revisions: list, show, diff, checkout.", no_args_is_help=True
)
for _name, _func in SNAPSHOT_VERBS.items():
    register(snapshots_app, _name, _func, group="snapshots")
app.add_typer(snapshots_app, name="snapshots")

for _name, _func in models.COMMANDS.items():
    register(models.app, _name, _func, group="models")
app.add_typer(models.app, name="models")


def main() -> None:
    app(prog_name="strata")
