"""strata.executor: one interface for inline, a local process pool and dask; order, retries, lost workers,
workers that die with their parent, and the params that choose it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from strata import executor as ex
from strata.config import ExecutorParams
from strata.errors import ConfigError, SchemaError
from strata.executor import backends
from strata.typed import build
from tests.helpers import procs, tasks

ROOT = Path(__file__).resolve().parents[2]
KINDS = ["inline", "local", "dask"]


@pytest.fixture(scope="module")
def scheduler():
    """One dask LocalCluster (2 worker processes) for this module's dask tests, reached by its address."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=40)
    yield cluster.scheduler_address
    cluster.close()


def params_for(kind: str, scheduler: str = "", **kwargs) -> ExecutorParams:
    if kind == "dask":
        return ExecutorParams(kind="dask", address=scheduler, **kwargs)
    return ExecutorParams(workers=1 if kind == "inline" else 2, **kwargs)


def jobs(n: int, *args) -> list[ex.Job]:
    return [ex.Job(f"s/{i}", (*args, i) if args else (i,)) for i in range(n)]


@pytest.mark.parametrize("kind", KINDS)
def test_results_come_in_job_order_whatever_runs_them(kind, request):
    scheduler = request.getfixturevalue("scheduler") if kind == "dask" else ""
    out = list(ex.run(tasks.square, jobs(9), params_for(kind, scheduler), "t"))
    assert [(job.label, result) for job, result in out] == [(f"s/{i}", i * i) for i in range(9)]


@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_datum_is_retried_then_named_with_its_last_error(kind, request, tmp_path):
    scheduler = request.getfixturevalue("scheduler") if kind == "dask" else ""
    two_failures = [ex.Job("s/a", (str(tmp_path), "a", 2)), ex.Job("s/b", (str(tmp_path), "b", 0))]
    done = list(ex.run(tasks.flaky, two_failures, params_for(kind, scheduler, retries=2), "t"))
    assert [r for _, r in done] == ["a", "b"] and (tmp_path / "a").read_text() == "3"
    (tmp_path / "a").unlink()
    with pytest.raises(
        ex.DatumFailed,
        match=r"^datum s/a: failed 2 times; last error: RuntimeError: injected failure 2 second line$",
    ):
        list(ex.run(tasks.flaky, two_failures, params_for(kind, scheduler, retries=1), "t"))


@pytest.mark.parametrize("kind", ["inline", "local"])
def test_a_data_error_stops_at_once_without_retries(kind):
    with pytest.raises(SchemaError, match=r"^x.csv: missing required column 'w'$"):
        list(ex.run(tasks.bad_data, [ex.Job("s/x", ("x.csv",))], params_for(kind, retries=5), "t"))


@pytest.mark.parametrize("kind", ["local", "dask"])
def test_a_worker_killed_mid_run_loses_and_duplicates_no_datum(kind, tmp_path, monkeypatch):
    monkeypatch.setenv(ex.KILL_WORKER_ENV, str(tmp_path / "killed"))  # the first task kills its worker
    out = list(ex.run(tasks.pid, [ex.Job(f"s/{i}", (str(i),)) for i in range(8)], params_for(kind), "t"))
    assert (tmp_path / "killed").exists()
    assert [label for label, _ in (r for _, r in out)] == [str(i) for i in range(8)]


def test_a_local_dask_cluster_keeps_glibcs_memory_trimming_default_and_a_quiet_worker(monkeypatch):
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    params = ExecutorParams(kind="dask", workers=1)
    cluster = backends.DaskCluster(params)
    try:
        out = list(ex.run(tasks.environ, jobs(2, "MALLOC_TRIM_THRESHOLD_"), params, "t", cluster))
        assert [value for _, value in out] == [None, None]  # dask's nanny would set 65536
        quiet = {  # the workers run with these, not only the client (dask's defaults: True, 20ms, 100ms)
            "distributed.worker.profile.enabled": False,
            "distributed.admin.tick.interval": "1s",
            "distributed.worker.memory.monitor-interval": "1s",
        }
        for key, value in quiet.items():
            found = [v for _, v in ex.run(tasks.dask_config, jobs(1, key), params, "t", cluster)]
            assert found == [value], key
    finally:
        cluster.close()
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")  # the user's own setting wins
    out = list(ex.run(tasks.environ, jobs(1, "MALLOC_TRIM_THRESHOLD_"), params, "t"))
    assert [value for _, value in out] == ["131072"]


PARENT = """
import sys
from strata import executor as ex
from strata.config import ExecutorParams
from tests.helpers import tasks
jobs = [ex.Job(str(i), (sys.argv[1], str(i))) for i in range(4)]
for _ in ex.run(tasks.stay, jobs, ExecutorParams(kind=sys.argv[2], workers=2), "t"):
    pass
"""


@pytest.mark.parametrize("kind", ["local", "dask"])
def test_workers_die_with_their_parent_even_by_sigkill(kind, tmp_path):
    token = uuid.uuid4().hex
    env = {**os.environ, procs.MARK: token, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path), kind], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.iterdir())) < 2 and parent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(list(tmp_path.iterdir())) == 2, "the two workers never started their tasks"
        workers = {int(p.read_text()) for p in tmp_path.iterdir()}
        assert workers <= {p.pid for p in procs.marked(token)}
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert procs.survivors(token) == []


def test_small_runs_stay_in_process_and_explicit_workers_get_a_pool():
    small = jobs(3)
    assert isinstance(ex.open_backend(ExecutorParams(), small), backends.Inline)
    assert isinstance(ex.open_backend(ExecutorParams(workers=1), small), backends.Inline)
    big = [ex.Job(f"s/{i}", (), weight=ex.PARALLEL_MIN_BYTES) for i in range(2)]
    for params, workers in ((ExecutorParams(workers=2), 2), (ExecutorParams(workers=8), 2)):
        pool = ex.open_backend(params, big)
        assert isinstance(pool, backends.LocalPool) and pool.workers == workers
        pool.close()


def test_blobs_travel_as_paths_only_to_workers_that_share_the_disk(tmp_path):
    (tmp_path / "f").write_bytes(b"bytes")
    blob = ex.Blob(path=str(tmp_path / "f"), size=5)
    assert blob.resolve(shares_disk=True) == blob
    assert blob.resolve(shares_disk=False) == ex.Blob(data=b"bytes", size=5)
    fetched = ex.Blob(size=5, fetch=lambda: b"remote").resolve(shares_disk=True)
    assert fetched == ex.Blob(data=b"remote", size=6) and fetched.fetch is None
    with ex.Blob(data=b"abc").local(".csv") as local:
        assert local.suffix == ".csv" and local.read_bytes() == b"abc"
    assert not local.exists()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "spark"}, r"^p:executor.kind: 'spark' is not one of local, dask$"),
        ({"workers": -1}, r"^p:executor.workers: must be between 0 and 4096, got -1$"),
        ({"retries": 11}, r"^p:executor.retries: must be between 0 and 10, got 11$"),
        ({"address": "tcp://h:1"}, r"^p:executor.address: only a 'dask' executor connects to an address$"),
        ({"kind": "dask", "address": "a b"}, r"^p:executor.address: 'a b' is not a scheduler address"),
        ({"threads": 2}, r"^p:executor: unknown key 'threads' \(allowed: address, kind, retries, workers\)$"),
    ],
)
def test_executor_params_are_checked_with_their_key_path(raw, message):
    with pytest.raises(ConfigError, match=message):
        build(ExecutorParams, raw, "p:executor")


def test_an_unreachable_scheduler_is_one_line(monkeypatch):
    monkeypatch.setattr(backends, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(ex.ExecutorError, match=r"^executor.address: cannot reach tcp://127.0.0.1:9: "):
        list(ex.run(tasks.square, jobs(1), ExecutorParams(kind="dask", address="tcp://127.0.0.1:9"), "t"))


def test_a_worker_running_other_code_refuses_the_task():
    with pytest.raises(
        ex.ExecutorError, match=r"^a worker runs other code than this client \(stages.validate: "
    ):
        ex._call(tasks.square, (3,), "stages.validate", "0" * 16, True)
    assert ex._call(tasks.square, (3,), "stages.validate", ex._worker_code("stages.validate"), True) == 9


def test_a_blob_can_be_a_url_the_worker_reads_itself():
    import fsspec

    with fsspec.open("memory://strata-test/batch.csv", "wb") as out:
        out.write(b"id\n1\n")
    blob = ex.Blob(url="memory://strata-test/batch.csv")
    assert blob.resolve(shares_disk=False) == blob  # a URL travels as is
    with blob.local(".csv") as local:
        assert local.read_bytes() == b"id\n1\n"
    assert blob.open().read() == b"id\n1\n"


def test_a_pool_found_broken_when_submitting_is_restarted_and_loses_no_datum(monkeypatch):
    """A worker can die between two results: the next submit then raises (BrokenProcessPool, or OSError from
    a pipe the dead pool closed) before any failed future is seen. That is a try, then a fresh pool."""
    from concurrent.futures.process import BrokenProcessPool

    from strata.config import ExecutorParams
    from strata.executor.backends import LocalPool

    pool = LocalPool(2)
    real, calls = pool.submit, []

    def submit(fn, *args):  # noqa: ANN001, ANN002, ANN202
        calls.append(pool.generation)
        if len(calls) in (3, 5):
            raise BrokenProcessPool("a worker died") if len(calls) == 3 else OSError("handle is closed")
        return real(fn, *args)

    monkeypatch.setattr(pool, "submit", submit)
    jobs = [ex.Job(f"s/{i}", (str(i),)) for i in range(6)]
    try:
        out = list(ex.run(tasks.pid, jobs, ExecutorParams(kind="local", workers=2), "t", backend=pool))
    finally:
        pool.close()
    assert [label for label, _ in (r for _, r in out)] == [str(i) for i in range(6)]
    assert pool.generation == 2  # restarted once per broken submit


class _DeadPool(backends.LocalPool):
    """A LocalPool whose first generation breaks at the third submit and whose futures never complete
    (what an aborted pool may leave behind); later generations run tasks inline."""

    def __init__(self) -> None:  # no processes
        self.workers, self.generation, self.submits = 2, 0, 0

    def submit(self, fn, *args):  # noqa: ANN001, ANN002, ANN201
        import concurrent.futures as cf
        from concurrent.futures.process import BrokenProcessPool

        self.submits += 1
        future: cf.Future = cf.Future()
        if self.generation == 0:
            if self.submits == 3:
                raise BrokenProcessPool("a worker died")
            return future  # stuck on a dead pool: never completes
        future.set_result(fn(*args))
        return future

    def restart(self) -> None:
        self.generation += 1

    def close(self, abort: bool = False) -> None:
        pass


def test_jobs_in_flight_on_a_dead_pool_are_requeued_not_awaited():
    """After a restart the old pool's futures are given up: each job in flight there is a try, run again on
    the fresh pool. Awaiting them instead (they may never complete) hung CI for 90 minutes."""
    pool = _DeadPool()
    jobs = [ex.Job(f"s/{i}", (str(i),)) for i in range(5)]
    out = list(ex.run(tasks.pid, jobs, ExecutorParams(kind="local", workers=2, retries=1), "t", backend=pool))
    assert [label for label, _ in (r for _, r in out)] == [str(i) for i in range(5)]
    assert pool.generation == 1
    assert pool.submits == 2 + 1 + 5  # two stuck, the broken one, then every job once on the fresh pool


def test_a_submit_that_keeps_failing_is_a_one_line_datum_error(monkeypatch):
    from strata.config import ExecutorParams
    from strata.executor.backends import LocalPool

    pool = LocalPool(2)

    def submit(fn, *args):  # noqa: ANN001, ANN002, ANN202
        raise OSError("handle is closed")

    monkeypatch.setattr(pool, "submit", submit)
    try:
        with pytest.raises(ex.DatumFailed, match=r"^datum s/0: failed 3 times; last error: OSError: handle"):
            list(
                ex.run(tasks.pid, [ex.Job("s/0", ("0",))], ExecutorParams(kind="local", retries=2), "t", pool)
            )
    finally:
        pool.close()
