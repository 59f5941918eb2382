"""Micro-batching: concurrent requests are scored together in one contract check and one model call.

A model call costs about the same for 1 row as for 100 (the Pipeline's per-call overhead dominates), so
under load the server scores whatever has queued up meanwhile in one call, and each request still gets its
own answer. The batch closes when it holds ``max_events`` events, when ``window`` seconds have passed since
its first request, or as soon as no other request is on its way: none is still reading its body, and the
batch holds as many requests as were in flight at once since the last batch closed. That count is the
number of concurrent clients: those just answered send again within a millisecond or two, and waiting for
them keeps them all in one model call (otherwise they split into groups that alternate, each paying a
model call). A lone client never waits. Scoring runs on one worker thread, so the event loop keeps reading
requests meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from strata.errors import SchemaError
from strata.serving.scoring import Outcome, Prepared, score_prepared

Job = tuple[Prepared, "asyncio.Future[list[dict[str, Any]]]"]
SETTLE_TICKS = 2  # event-loop turns a batch waits for requests already received but not yet started


class Batcher:
    """Queue of prepared requests, drained by one task that scores them in batches on a worker thread."""

    def __init__(
        self,
        window: float,
        max_events: int,
        observe: Callable[[Outcome, int], None] = lambda outcome, rows: None,
        score: Callable[[list[Prepared]], Outcome] = score_prepared,
    ) -> None:
        self.window, self.max_events = window, max_events
        self.observe, self.score = observe, score
        self.arriving = 0  # requests whose body is still being read: the batch may wait for them
        self.in_flight = 0  # requests started and not answered yet
        self._peak = 0  # most requests in flight at once since the last batch closed
        self._queue: collections.deque[Job] = collections.deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="strata-score")

    def arrive(self) -> None:
        """A request started: its events may join the batch being collected."""
        self.arriving += 1
        self.in_flight += 1
        self._peak = max(self._peak, self.in_flight)

    def arrived(self) -> None:
        """That request was submitted, or failed: no need to wait for its body any more."""
        self.arriving -= 1
        self._wake.set()

    def answered(self) -> None:
        """That request has its answer (or its error)."""
        self.in_flight -= 1

    async def submit(self, prepared: Prepared) -> list[dict[str, Any]]:
        """The answers for this request's events, once its batch is scored."""
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._queue.append((prepared, future))
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="strata-batcher")
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._thread.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            jobs = await self._collect(loop)
            requests = [prepared for prepared, _ in jobs]
            try:
                outcome = await loop.run_in_executor(self._thread, self.score, requests)
            except Exception as exc:  # a bug in scoring: every request of the batch answers 500, none hangs
                for _, future in jobs:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for i, ((_, future), answers) in enumerate(zip(jobs, outcome.answers, strict=True)):
                if future.done():
                    continue
                if i in outcome.errors:  # this request alone could not be scored: its client's 400
                    future.set_exception(SchemaError(outcome.errors[i]))
                else:
                    future.set_result(answers)
            self.observe(outcome, sum(p.size for p in requests))

    async def _collect(self, loop: asyncio.AbstractEventLoop) -> list[Job]:
        jobs = [self._queue.popleft()]
        events = jobs[0][0].size
        deadline = loop.time() + self.window
        settle = SETTLE_TICKS
        while events < self.max_events:
            if self._queue:
                jobs.append(self._queue.popleft())
                events += jobs[-1][0].size
                continue
            remaining = deadline - loop.time()
            if self.arriving <= 0 and settle and remaining > 0:
                settle -= 1  # let requests the transport has just received start (and count as arriving)
                await asyncio.sleep(0)
                continue
            # Wait (within the window) while a started request is still reading its body, or while the
            # batch has fewer requests than were in flight at once: those clients are about to send again.
            if remaining <= 0 or (self.arriving <= 0 and len(jobs) >= self._peak):
                break
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                break
        self._peak = self.in_flight
        return jobs
