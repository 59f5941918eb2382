"""One executor for datum work: map a pure task over jobs, get results in job order, with retries and a
progress bar of datums done across workers. `executor` in params.yaml picks where (strata.config
ExecutorParams): ``local`` (this process for small runs, else a process pool here) or ``dask`` (a cluster).

A task is a module-level function of picklable arguments (input bytes as a :class:`Blob`, the contract,
params) that returns its output bytes and counts; it writes nothing. The caller writes results atomically
into its outputs (strata.datums.Ledger). So where a task ran never changes a byte, and the executor is
never part of a datum fingerprint.

Faults (Pachyderm's datumTries): a task that fails for a reason outside the data (worker lost, crash, I/O)
is tried again up to ``retries`` times, then the run stops with one line naming the datum and its last
error. A :class:`StrataError` raised by a task is a verdict on the data (it names the file and row) and
stops the run at once: trying again would give the same answer. Each job's result is taken once, so a
lost worker neither loses nor duplicates a datum.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import functools
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

from strata import deps
from strata.config import ExecutorParams
from strata.errors import StrataError
from strata.executor.backends import Backend, DaskCluster, ExecutorError, Inline, LocalPool
from strata.executor.blobs import Blob
from strata.progress import counter

__all__ = ["Blob", "DatumFailed", "ExecutorError", "Job", "open_backend", "run"]

R = TypeVar("R")

PARALLEL_MIN_BYTES = 16 << 20  # `workers: 0` and less input than this: stay in this process
WINDOW_PER_WORKER = 32  # jobs submitted or awaiting the caller, per worker (tiny datums need many)
WINDOW_BYTES = 256 << 20  # input bytes of those jobs (always at least one job)
KILL_WORKER_ENV = "STRATA_TEST_KILL_WORKER"  # tests only: a marker path; the first task to create it dies


class DatumFailed(StrataError):
    """A datum's task failed on every try; the message names the datum and the last error."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One task to run: ``label`` names the datum (errors, progress), ``args`` are the task's arguments
    (a :class:`Blob` among them is resolved per executor), ``weight`` its input bytes."""

    label: str
    args: tuple[Any, ...]
    weight: int = 0


def open_backend(params: ExecutorParams, jobs: Sequence[Job]) -> Backend:
    """The backend for these jobs: dask as configured; local inline when one worker (or `workers: 0`
    and too little work to pay for starting processes) would do, else a pool."""
    if params.kind == "dask":
        return DaskCluster(params)
    workers = min(params.workers or os.cpu_count() or 1, len(jobs))
    small = params.workers == 0 and sum(j.weight for j in jobs) < PARALLEL_MIN_BYTES
    if workers < 2 or small:
        return Inline()
    return LocalPool(workers)


def run(
    task: Callable[..., R],
    jobs: Sequence[Job],
    params: ExecutorParams,
    description: str,
    backend: Backend | None = None,
) -> Iterator[tuple[Job, R]]:
    """Run ``task(*job.args)`` for every job; yield (job, result) in job order as results arrive."""
    if not jobs:
        return
    own = backend is None
    backend = backend or open_backend(params, jobs)
    finished = False
    try:
        with counter(len(jobs), description) as advance:
            yield from _drive(backend, task, jobs, params.retries, advance)
        finished = True
    finally:
        if own:
            backend.close(abort=not finished)


@dataclasses.dataclass
class _Flight:
    index: int
    generation: int


class _Queue:
    """The jobs to submit (by index), each one's tries, and the futures in flight."""

    def __init__(self, jobs: Sequence[Job], retries: int) -> None:
        self.jobs, self.retries = jobs, retries
        self.todo = collections.deque(range(len(jobs)))
        self.tries = [0] * len(jobs)
        self.flying: dict[cf.Future[Any], _Flight] = {}

    def again(self, index: int, error: BaseException) -> None:
        """A try of job ``index`` failed for a reason outside the data: queue it again, or give up."""
        self.tries[index] += 1
        if self.tries[index] > self.retries:
            label, detail = self.jobs[index].label, _one_line(error)
            raise DatumFailed(f"datum {label}: failed {self.tries[index]} times; last error: {detail}")
        self.todo.appendleft(index)

    def submit(self, backend: Backend, index: int, fn: Callable[..., Any], *args: Any) -> bool:
        """Submit job ``index``; False if the pool was found broken (and restarted) instead."""
        try:
            self.flying[backend.submit(fn, *args)] = _Flight(index, backend.generation)
        except (BrokenProcessPool, OSError) as broken:
            if not isinstance(backend, LocalPool):
                raise
            # the pool broke (a worker died) before its failed futures were seen here: a try of this job;
            # start a fresh pool and go on, as when a future reports the break
            self.again(index, broken)
            self.restart(backend, broken)
            return False
        return True

    def restart(self, backend: Backend, error: BaseException) -> None:
        """A fresh pool; the jobs still in flight on the old one are lost with it: each is a try (as when
        its future reports the break) queued again, and its future is dropped, never awaited: an aborted
        pool's futures need not ever complete."""
        backend.restart()
        lost = [(f, x) for f, x in self.flying.items() if x.generation != backend.generation]
        for future, flight in sorted(lost, key=lambda f: -f[1].index):
            del self.flying[future]
            self.again(flight.index, error)


def _drive(
    backend: Backend, task: Callable[..., R], jobs: Sequence[Job], retries: int, advance: Callable[[], None]
) -> Iterator[tuple[Job, R]]:
    """Keep a bounded window of jobs submitted, take each result once, retry failures, yield in order."""
    module = task.__module__
    code = deps.code_fingerprint(module) if module.split(".")[0] in deps.PACKAGES else ""
    remote = not isinstance(backend, Inline)
    window = WINDOW_PER_WORKER * backend.workers if remote else 1
    queue = _Queue(jobs, retries)
    todo, flying = queue.todo, queue.flying
    ready: dict[int, R] = {}
    args: dict[int, tuple[Any, ...]] = {}  # resolved once, reused by retries
    following = 0
    while following < len(jobs):
        weight = sum(jobs[f.index].weight for f in flying.values()) + sum(jobs[i].weight for i in ready)
        # never nothing in flight (the next result is always on its way); else within the window
        while todo and (not flying or (len(flying) + len(ready) < window and weight < WINDOW_BYTES)):
            index = todo.popleft()
            if index not in args:
                args[index] = tuple(_resolve(a, backend.shares_disk) for a in jobs[index].args)
            if not queue.submit(backend, index, _call, task, args[index], module, code, remote):
                break
            weight += jobs[index].weight
        done, _ = cf.wait(list(flying), return_when=cf.FIRST_COMPLETED)
        for future in done:
            flight = flying.pop(future, None)
            if flight is None:  # given up with a pool restarted by an earlier future of this loop
                continue
            if future.cancelled():  # dropped with a broken pool before it ran: not a try
                todo.appendleft(flight.index)
                continue
            error = future.exception()
            if error is None:
                ready[flight.index] = future.result()
                args.pop(flight.index, None)
                advance()
            elif isinstance(error, StrataError):
                raise error
            else:
                queue.again(flight.index, error)
                if isinstance(error, BrokenProcessPool) and flight.generation == backend.generation:
                    queue.restart(backend, error)  # a worker died: the pool can run nothing more
        while following in ready:
            yield jobs[following], ready.pop(following)
            following += 1


def _resolve(arg: Any, shares_disk: bool) -> Any:
    return arg.resolve(shares_disk) if isinstance(arg, Blob) else arg


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@functools.cache
def _worker_code(module: str) -> str:
    return deps.code_fingerprint(module)


def _call(task: Callable[..., R], args: tuple[Any, ...], module: str, code: str, remote: bool) -> R:
    """What a worker runs: check it runs the client's code (else its bytes could differ), then the task."""
    if remote:
        _test_kill_hook()
        if code and _worker_code(module) != code:
            raise ExecutorError(
                f"a worker runs other code than this client ({module}: {_worker_code(module)} != {code}); "
                "install the same strata on every worker"
            )
    return task(*args)


def _test_kill_hook() -> None:
    """Tests only: the first task to create the marker file named by STRATA_TEST_KILL_WORKER kills its
    own worker process (a worker lost mid-run). Inert unless that variable is set."""
    marker = os.environ.get(KILL_WORKER_ENV)
    if not marker:
        return
    try:
        Path(marker).touch(exist_ok=False)
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
