"""Which output is which, from the stage commands and dvc.yaml's artifacts/metrics/plots declarations."""

from __future__ import annotations

import pytest

from strata.review.layout import StageOuts, derive, options

STAGES = [
    StageOuts(
        "ingest",
        "strata ingest --params params.yaml --landing data/landing --out data/parts",
        ("data/parts",),
    ),
    StageOuts(
        "validate",
        "strata validate --partitions data/parts --clean=data/tidy --quarantine data/bad",
        ("data/tidy", "data/bad"),
    ),
    StageOuts("split", "strata split --summary data/split/sum.json", ("data/split/sum.json",)),
    StageOuts(
        "fit",
        "python -m strata train --model models/m.bin --card models/c.json",
        ("models/m.bin", "models/c.json"),
    ),
    StageOuts(
        "score",
        "strata evaluate --model models/m.bin --metrics eval/m.json --plots eval/p",
        ("eval/m.json", "eval/p"),
    ),
]


@pytest.mark.parametrize(
    ("cmd", "verb", "opts"),
    [
        (
            "strata ingest --out a --hash-cache .strata/x",
            "ingest",
            {"--out": "a", "--hash-cache": ".strata/x"},
        ),
        ("python pipeline.py validate --clean=c", "validate", {"--clean": "c"}),
        ("echo 'unbalanced", None, {}),
        ("strata report --base main --json", None, {"--base": "main"}),
    ],
)
def test_options(cmd: str, verb: str | None, opts: dict[str, str]) -> None:
    assert options(cmd) == (verb, opts)


def test_roles_come_from_the_options_each_stage_gives_its_outputs() -> None:
    found = derive(STAGES, metrics=["eval/m.json"], tiers={"data/parts": "raw", "data/tidy": "shared"})
    assert found.manifest("partitions") == "data/parts/manifest.json"
    assert found.manifest("clean") == "data/tidy/manifest.json"
    assert (found.path("quarantine"), found.path("summary")) == ("data/bad", "data/split/sum.json")
    assert (found.path("model"), found.path("card")) == ("models/m.bin", "models/c.json")
    assert found.metrics == ("eval/m.json",) and found.plots == ("eval/p",)
    assert found.checkout_paths() == (
        "data/parts",
        "data/tidy",
        "models/m.bin",
        "models/c.json",
        "eval/m.json",
    )
    assert found.tier_of("data/parts/acme/1.parquet") == "raw" and found.tier_of("README.md") is None


def test_a_dep_given_as_an_option_is_not_an_output() -> None:
    """evaluate's --model is its input; only train, which writes it, makes it the model."""
    found = derive([STAGES[4]], metrics=["eval/m.json"])
    assert found.path("model") is None and found.path("metrics") == "eval/m.json"


def test_artifacts_metrics_and_plots_declarations() -> None:
    found = derive(
        STAGES,
        model_artifacts=["models/registered.bin"],
        metrics=["eval/extra.json", "eval/m.json"],
        plots=["eval/p/confusion.csv", "eval/p/roc.png", "eval/p", "ROC"],
    )
    assert found.path("model") == "models/registered.bin"
    assert found.metrics == ("eval/m.json", "eval/extra.json")  # evaluate's own metrics file first
    assert found.plots == ("eval/p/roc.png", "eval/p")  # images, then output folders; "ROC" is a plot id


def test_no_stages_no_pipeline() -> None:
    found = derive([])
    assert not found.has_pipeline and found.checkout_paths() == () and found.manifest("clean") is None
