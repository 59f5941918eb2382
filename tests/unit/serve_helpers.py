"""A tiny model trained under a contract with the features scoring must honour (required columns, aliases,
NA markers, boolean words, a source with its own unit, ranges, allowed values), and a server on a loopback
port run in a thread of the test process (the real uvicorn protocol and app, no subprocess)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from conftest_ml import make_table, write_params
from threadpoolctl import threadpool_limits

from stages import train
from strata.contract.spec import METADATA_KEY, ColumnSpec, Contract, to_metadata

CONTRACT = Contract(
    key=("event_id",),
    target="label",
    na_values=("", "NA", "-", "?"),
    source_units={"cedar": {"height": "in"}},
    columns={
        "event_id": ColumnSpec(type="string", required=True, aliases=("eventId",), feature=False),
        "ts": ColumnSpec(type="timestamp", required=True, aliases=("timestamp",)),
        "entry_point": ColumnSpec(
            type="category",
            required=True,
            aliases=("entryPoint",),
            values=("front_door", "back_door", "window"),
        ),
        "height": ColumnSpec(type="float", unit="cm", min=5, max=260, aliases=("objectHeight",)),
        "speed": ColumnSpec(type="float", unit="m/s", min=0, max=15),
        "code_ok": ColumnSpec(type="bool", aliases=("codeOk",)),
        "label": ColumnSpec(
            type="category", required=True, feature=False, values=("resident", "intruder", "animal")
        ),
    },
)
CLASSES = ["animal", "intruder", "resident"]
EVENT: dict[str, Any] = {
    "event_id": "x1",
    "ts": "2026-01-05T03:10:00Z",
    "entry_point": "window",
    "height": 172.5,
    "speed": 1.2,
    "code_ok": False,
}


def clean_table(rows: int, seed: int, prefix: str) -> Any:
    """conftest_ml's frame, written under CONTRACT (in range, no missing required value)."""
    import pyarrow.compute as pc

    table = make_table(rows, seed=seed, prefix=prefix)
    entry = pc.fill_null(table["entry_point"], "window")
    height = pc.max_element_wise(table["height"], 6.0)
    table = table.set_column(table.schema.get_field_index("entry_point"), "entry_point", entry)
    table = table.set_column(table.schema.get_field_index("height"), "height", height)
    return table.replace_schema_metadata({METADATA_KEY: to_metadata(CONTRACT)})


def train_model(folder: Path) -> dict[str, Path]:
    """model.skops + card.json trained on 200 rows under CONTRACT; test.parquet holds 40 more clean rows."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.parquet" for name in ("train", "test")}
    pq.write_table(clean_table(200, 1, "a"), paths["train"])
    pq.write_table(clean_table(40, 2, "b"), paths["test"])
    (folder / "summary.json").write_text('{"partitions": ["acme/0123456789abcdef"], "train_rows": 200}')
    write_params(folder / "params.yaml")
    with threadpool_limits(limits=1):  # OpenMP threads only wait on each other for a model this small
        train.command(
            train=paths["train"],
            summary=folder / "summary.json",
            model=folder / "model.skops",
            card_path=folder / "card.json",
            params=folder / "params.yaml",
        )
    return {**paths, "model": folder / "model.skops", "card": folder / "card.json", "folder": folder}


class ThreadServer:
    """uvicorn serving `app` on a free loopback port from a thread; ``stop()`` shuts it down gracefully."""

    def __init__(self, app: Any, header_timeout: float = 5.0, body_timeout: float = 10.0) -> None:
        import uvicorn

        from strata.serving.protocol import StrataHttpProtocol

        StrataHttpProtocol.header_timeout = header_timeout
        StrataHttpProtocol.observe = staticmethod(app.refused)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(2048)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app, http=StrataHttpProtocol, loop="uvloop", access_log=False, log_config=None,
            log_level="warning", timeout_graceful_shutdown=int(body_timeout) + 5,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the test server did not start within 30 s"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the test server did not stop within 30 s"
        self.sock.close()


@contextmanager
def serving(app: Any, **kwargs: Any) -> Iterator[ThreadServer]:
    server = ThreadServer(app, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()
