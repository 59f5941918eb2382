"""Where tasks run, behind one interface: ``submit(fn, *args) -> concurrent.futures.Future``.

- :class:`Inline`: in this process, one task at a time (small runs: starting workers costs a second).
- :class:`LocalPool`: a process pool on this machine (spawned, so nothing of the parent leaks in). Every
  worker watches a pipe only the parent holds open: when the parent dies, even by SIGKILL, the pipe
  closes and the worker exits at once (distributed's nannies do the same), so no worker outlives a stage.
- :class:`DaskCluster`: a `distributed` cluster through ``Client.get_executor()``: the scheduler at
  ``executor.address``, or a ``LocalCluster`` of worker processes started here. Its workers share no disk
  with the client: blobs travel as bytes (scattered straight to a worker) or URLs.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from collections.abc import Callable
from typing import Any

from strata.config import ExecutorParams
from strata.errors import StrataError

CONNECT_TIMEOUT_S = 30
SCATTER_BYTES = 1 << 20  # blobs above this go to a worker directly, not through the scheduler
# The LocalCluster strata starts for a stage (bench/README.md, figure 7a: ~0.83x -> ~0.90x the local pool):
LOCAL_CLUSTER_CONFIG = {
    # dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536: glibc then hands freed memory back
    # to the OS at once, and a datum task, which allocates and frees ~100 MB of buffers a million rows,
    # page-faults it all back in (17x the minor faults, ~1/3 more CPU a datum than in the local pool).
    # None: the nanny leaves it unset (glibc's default; a value exported in this environment still wins).
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    # a worker samples its task thread's stack every 10 ms for the dashboard's profile, and wakes its event
    # loop every 20 ms (tick) and 100 ms (memory monitor): each takes the GIL from the task. Nobody reads a
    # stage's throwaway cluster's dashboard; memory limits are still enforced, checked every second.
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
}


class ExecutorError(StrataError):
    """The executor cannot start or reach its workers (scheduler down, bad address)."""


class Inline:
    """Runs each task when it is submitted, in this process."""

    shares_disk = True
    workers = 1
    generation = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        future: cf.Future[Any] = cf.Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future, like a pool
            future.set_exception(exc)
        return future

    def share(self, value: Any) -> Any:
        """``value`` as an argument of many tasks: this process has it already."""
        return value

    def restart(self) -> None:
        """Nothing to restart: a failing task failed in this process."""

    def close(self, abort: bool = False) -> None:
        """Nothing to stop."""


def _exit_with_parent(alive: Any) -> None:
    """Pool initializer: exit this worker as soon as the parent's end of ``alive`` closes."""

    def watch() -> None:
        try:
            alive.recv_bytes()
        except (EOFError, OSError):
            pass
        os._exit(70)  # the parent is gone (or aborted us): no cleanup, no output; nothing to save

    threading.Thread(target=watch, name="strata-parent-watch", daemon=True).start()


class LocalPool:
    """A spawn-context ProcessPoolExecutor whose workers die with their parent."""

    shares_disk = True

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.generation = 0
        self._start()

    def _start(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        self._alive_r, self._alive_w = ctx.Pipe(duplex=False)
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=_exit_with_parent, initargs=(self._alive_r,)
        )

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        return self._pool.submit(fn, *args)

    def share(self, value: Any) -> Any:
        """``value`` as an argument of many tasks: pickled with each (keep it small, e.g. a path Blob)."""
        return value

    def restart(self) -> None:
        """A worker died (the pool is broken): stop the rest, start a fresh pool."""
        self.close(abort=True)
        self.generation += 1
        self._start()

    def close(self, abort: bool = False) -> None:
        """Stop the pool. ``abort``: kill its workers now and do not wait for it: a pool that lost a worker
        can hang in an orderly shutdown (a dead worker may hold the task queue's lock), and its tasks' futures
        are given up by the caller (`executor._drive` requeues them)."""
        if abort:
            self._alive_w.close()  # every worker exits now, mid-task or idle
            for process in dict(getattr(self._pool, "_processes", None) or {}).values():
                process.kill()  # no wait for the pipe's EOF to reach them; a no-op on one that has exited
            self._pool.shutdown(wait=False, cancel_futures=True)
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._alive_w.close()
        self._alive_r.close()


class DaskCluster:
    """A distributed Client (and a LocalCluster if no address is given) as a concurrent.futures executor."""

    shares_disk = False
    generation = 0

    def __init__(self, params: ExecutorParams, where: str = "executor") -> None:
        import logging

        from distributed import Client, LocalCluster

        self._cluster: Any = None
        if params.address:
            try:
                self._client = Client(params.address, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError) as exc:
                detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ExecutorError(f"{where}.address: cannot reach {params.address}: {detail}") from exc
        else:
            import dask

            with dask.config.set(LOCAL_CLUSTER_CONFIG):  # a cluster of yours is configured by you
                self._cluster = LocalCluster(
                    n_workers=params.workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # any free port: the HTTP server (health, metrics) always runs
                    silence_logs=logging.ERROR,
                )
            self._client = Client(self._cluster)
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))
        self._executor = self._client.get_executor(pure=False)

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        from strata.executor.blobs import Blob

        shipped = [
            self._client.scatter(a, hash=False)
            if isinstance(a, Blob) and a.data is not None and len(a.data) > SCATTER_BYTES
            else a
            for a in args
        ]
        return self._executor.submit(fn, *shipped)

    def share(self, value: Any) -> Any:
        """``value`` as an argument of many tasks (a model's bytes): sent to every worker once, and passed
        to each task by reference (a dask future, resolved on the worker), not once per task."""
        return self._client.scatter(value, broadcast=True, hash=False)

    def restart(self) -> None:
        """Nothing to restart: the scheduler reschedules the tasks of a lost worker itself."""

    def close(self, abort: bool = False) -> None:
        self._executor.shutdown(wait=not abort)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


Backend = Inline | LocalPool | DaskCluster
