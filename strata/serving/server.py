"""`strata serve`: the model over HTTP, through the data contract, on uvicorn (ASGI) with N worker processes.

Every option is checked before anything loads, with a one-line error naming it. The model is loaded and
checked (card, sha256, contract, one prediction) before the server says it listens, so a server that says
so can score. The socket is bound here (backlog ``--backlog``) and handed to uvicorn: one worker runs in this
process; with ``--workers N`` each worker process loads the model itself (settings travel in an environment
variable) and /metrics adds up all workers. SIGINT/SIGTERM: stop accepting, finish what is in flight (a
stalled sender gets its 408 after at most ``--body-timeout`` seconds), then exit.

``--model`` names a file or a registry reference (``model@v1.3.0``, ``model#prod``) of the project clone in
the current directory: fetched through DVC and checked before serving, a stage followed while serving
(strata.serving.follow; one worker follows a stage).

Routes (strata.serving.app): POST /predict, GET /health /ready /metrics /docs /openapi.json.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from strata.errors import ConfigError, StrataError
from strata.serving import follow

if TYPE_CHECKING:
    from strata.registry.source import Resolved
    from strata.registry.watch import StageWatcher
    from strata.serving.app import Observed
    from strata.serving.model import Loaded

SETTINGS_ENV = "STRATA_SERVE_SETTINGS"
KEEP_ALIVE_S = 5  # an idle keep-alive connection is closed after this
SHUTDOWN_MARGIN_S = 5.0  # uvicorn's own hard stop, after the body timeout has answered every stalled sender
WORKER_START_S = 300.0  # a worker process loads its own model: seconds, more on a busy machine
WORKER_PING_S = 30  # a worker busy loading answers the supervisor's pings late; not a hung worker
WATCHER_STOP_S = 10.0  # a poll busy fetching a version is waited for this long at shutdown (daemon thread)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything `strata serve` was asked for; checked as a whole before anything starts."""

    model: str
    card: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body: int = 10 * 1024 * 1024
    header_timeout: float = 5.0
    body_timeout: float = 10.0
    batch_window_ms: float = 5.0  # a model call costs ~10-30 ms whatever its size: waiting 5 ms for more pays
    max_batch: int = 256
    backlog: int = 2048
    echo: bool = False  # bench only: /predict echoes the events, no contract, no model
    release: dict[str, Any] | None = None  # set by serve() for a registry reference: which version (workers)

    def check(self) -> None:
        _between("--port", self.port, 0, 65535, "a port number")
        _between("--workers", self.workers, 1, 64, "a number of worker processes")
        _between("--max-body", self.max_body, 1, 1 << 30, "a body size in bytes")
        _between("--header-timeout", self.header_timeout, 0.001, 3600, "seconds")
        _between("--body-timeout", self.body_timeout, 0.001, 3600, "seconds")
        _between("--batch-window-ms", self.batch_window_ms, 0, 1000, "milliseconds")
        _between("--max-batch", self.max_batch, 1, 100_000, "a number of events")
        _between("--backlog", self.backlog, 1, 65535, "a queue length")
        try:
            socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ConfigError(f"--host {self.host}: cannot resolve ({exc})") from None
        if follow.names_ref(self.model):
            follow.check_ref(self.model, self.card, self.workers, Path.cwd())
            return
        if not Path(self.model).is_file():
            raise ConfigError(f"--model {self.model}: file not found")
        if self.card is not None and not Path(self.card).is_file():
            raise ConfigError(f"--card {self.card}: file not found")

    def limits(self) -> Any:
        from strata.serving.app import Limits

        return Limits(self.max_body, self.body_timeout, self.batch_window_ms / 1000, self.max_batch)


def _between(option: str, value: float, low: float, high: float, what: str) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{option} {value:g}: not {what} between {low:g} and {high:g}")


def bind(settings: Settings) -> socket.socket:
    """The listening socket (port 0 picks a free one); a port in use is a one-line error."""
    family, kind, proto, _, address = socket.getaddrinfo(
        settings.host, settings.port, type=socket.SOCK_STREAM
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(settings.backlog)
    except OSError as exc:
        sock.close()
        raise StrataError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
        ) from None
    sock.set_inheritable(True)
    return sock


def build_app(settings: Settings, loaded: Loaded, on_ready: Callable[[], None] = lambda: None) -> Observed:
    """The ASGI app around a checked model; also points the HTTP protocol's refusals at its log/metrics."""
    from strata.serving.app import create_app
    from strata.serving.model import ModelHolder
    from strata.serving.protocol import StrataHttpProtocol

    app = create_app(ModelHolder(loaded), settings.limits(), settings.echo, on_ready)
    StrataHttpProtocol.header_timeout = settings.header_timeout
    StrataHttpProtocol.observe = staticmethod(app.refused)
    return app


def worker_app() -> Observed:
    """uvicorn's app factory in each worker process of `--workers N`."""
    from strata.serving.model import ModelHolder

    settings = Settings(**json.loads(os.environ[SETTINGS_ENV]))
    _configure_logging()
    card = Path(settings.card) if settings.card else None
    return build_app(settings, ModelHolder.prepare(Path(settings.model), card, settings.release))


def uvicorn_config(settings: Settings, app: Any) -> Any:
    import uvicorn

    from strata.serving.protocol import StrataHttpProtocol

    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        http=StrataHttpProtocol if not isinstance(app, str) else "strata.serving.protocol:StrataHttpProtocol",
        loop="uvloop",
        lifespan="on",
        workers=settings.workers,
        backlog=settings.backlog,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=int(settings.body_timeout + SHUTDOWN_MARGIN_S),
        access_log=False,  # strata.serving.app writes one structured line per request itself
        log_config=None,
        log_level="warning",
        server_header=False,
        timeout_worker_healthcheck=WORKER_PING_S,
    )


class _JsonLogs(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if record.exc_info:  # the whole trace, still one line (JSON escapes its newlines)
            trace = self.formatException(record.exc_info)
            line["error"], line["trace"] = trace.splitlines()[-1], trace
        return json.dumps(line)


def _configure_logging() -> None:
    """uvicorn's own messages (warnings and errors only) as JSON lines on stderr, like the request lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonLogs())
    logger = logging.getLogger("uvicorn")
    logger.handlers[:] = [handler]
    logger.propagate = False


def run(settings: Settings, sock: socket.socket, loaded: Loaded, following: Resolved | None = None) -> None:
    """Serve on ``sock`` until SIGINT/SIGTERM; says where it listens (stderr) once it can answer.

    ``following``: the stage version served at start; the stage is then followed (strata.serving.follow)."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    kind = loaded.card.get("model", {}).get("kind") or "model"
    plural = "s" if settings.workers > 1 else ""
    release = loaded.release or {}
    what = f"{kind} {loaded.version}" + (f" from {release['ref']}" if release.get("stage") else "")

    def listening() -> None:
        typer.echo(
            f"strata serve: listening on http://{host}:{port} ({what}, {settings.workers} "
            f"worker{plural}); POST /predict, docs /docs, metrics /metrics",
            err=True,
        )

    _configure_logging()
    stopping: list[Any] = []  # a signal came before uvicorn handled them; then the uvicorn server

    def early(signum: int, _frame: Any) -> None:
        """A signal before uvicorn handles them (or the one it re-raises when done, to the handler it
        found): stop the server if it is starting, and return (exit 0) rather than die by the signal."""
        stopping.append(signum)
        for server in stopping:
            if isinstance(server, uvicorn.Server):
                server.should_exit = True

    previous = {sig: signal.signal(sig, early) for sig in (signal.SIGINT, signal.SIGTERM)}
    watcher: StageWatcher | None = None
    try:
        if settings.workers == 1:
            app = build_app(settings, loaded, listening)
            if following is not None:
                ref = str(release["ref"])
                watcher = follow.Follower(Path.cwd(), ref, app.service.holder).watcher(following)
                watcher.start()
            server = uvicorn.Server(uvicorn_config(settings, app))
            server.should_exit = bool(stopping)
            stopping.append(server)
            server.run(sockets=[sock])
        else:
            with tempfile.TemporaryDirectory(prefix="strata-metrics-") as metrics_dir:
                os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
                os.environ[SETTINGS_ENV] = json.dumps(dataclasses.asdict(settings))
                config = uvicorn_config(settings, "strata.serving.server:worker_app")
                _workers(config, sock, listening).run()
    finally:
        if watcher is not None:
            watcher.stop(WATCHER_STOP_S)
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    typer.echo("strata serve: stopped", err=True)


def _workers(config: Any, sock: socket.socket, ready: Callable[[], None]) -> Any:
    """uvicorn's worker supervisor, which says it listens only once every worker has loaded its model."""
    from uvicorn.supervisors import Multiprocess

    class Workers(Multiprocess):
        def init_processes(self) -> None:
            super().init_processes()
            for process in self.processes:
                if (
                    not process.wait_until_ready(WORKER_START_S, self.should_exit)
                    and not self.should_exit.is_set()
                ):
                    self.terminate_all()
                    self.join_all()
                    raise StrataError(f"a worker process did not start within {WORKER_START_S:g} s")
            ready()

    return Workers(config, sockets=[sock])


def command(
    *,
    model: Annotated[
        str,
        typer.Option(
            help="skops model written by train (its card.json beside it), or a registry reference resolved "
            "in the project clone of the current directory: model@v1.3.0, or model#prod to follow the stage"
        ),
    ],
    card: Annotated[
        Path | None, typer.Option(help="model card with the data contract; default: card.json beside --model")
    ] = None,
    host: Annotated[str, typer.Option(help="address to listen on (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on; 0 picks a free one")] = 8080,
    workers: Annotated[int, typer.Option(help="worker processes, each with its own copy of the model")] = 1,
    max_body: Annotated[int, typer.Option(help="largest request body in bytes, counted as received")] = (
        Settings.max_body
    ),
    header_timeout: Annotated[float, typer.Option(help="seconds a client has to send its headers")] = 5.0,
    body_timeout: Annotated[float, typer.Option(help="seconds a client has to send its whole body")] = 10.0,
    batch_window_ms: Annotated[
        float, typer.Option(help="longest a micro-batch waits for concurrent requests still arriving")
    ] = 5.0,
    max_batch: Annotated[int, typer.Option(help="most events scored in one model call")] = 256,
    backlog: Annotated[int, typer.Option(help="connections the kernel queues before accepting")] = 2048,
) -> None:
    """Serve the model over HTTP: POST /predict checks events against the contract and scores them."""
    settings = Settings(
        model, str(card) if card else None, host, port, workers, max_body, header_timeout, body_timeout,
        batch_window_ms, max_batch, backlog,
    )  # fmt: skip
    settings.check()
    serve(settings)


def serve(settings: Settings) -> None:
    """Load and check the model, then serve (the command's body, and the benchmark's echo floor)."""
    from strata.serving.model import ModelHolder

    # One OpenMP thread per process: inside one small prediction extra threads only wait on each other.
    # Set before sklearn loads OpenMP, which reads it once; worker processes inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    card = Path(settings.card) if settings.card else None
    sock = bind(settings)  # first: a port in use is reported before the model takes seconds to load
    following = None
    try:
        if follow.names_ref(settings.model):  # resolve, fetch (sha256 checked), load: before serving
            loaded, fetched = follow.open_ref(Path.cwd(), settings.model)
            following = fetched.resolved if fetched.resolved.stage else None
            settings = dataclasses.replace(  # what worker processes load: the fetched files, that version
                settings, model=str(fetched.model), card=str(fetched.card_path), release=loaded.release
            )
        else:
            loaded = ModelHolder.prepare(Path(settings.model), card)
    except BaseException:
        sock.close()
        raise
    run(settings, sock, loaded, following)
