"""Micro-batching (strata.serving.batcher) with a stand-in scorer: what is scored together, and when."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from strata.serving.batcher import Batcher
from strata.serving.scoring import Outcome

HOUR = 3600.0  # a window nothing should wait for: a test that waited would hang, and time out below
BOUND = 60.0  # seconds: generous; only a batcher stuck waiting for its window gets near it


@dataclasses.dataclass(frozen=True)
class Job:
    name: str
    size: int = 1


class Recorder:
    """Scores by naming each event; remembers the jobs of every call."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def __call__(self, jobs: list[Any]) -> Outcome:
        self.calls.append([job.name for job in jobs])
        if self.fail:
            raise RuntimeError("scorer broke")
        return Outcome([[{"event": f"{job.name}.{i}"} for i in range(job.size)] for job in jobs])


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, BOUND))


def test_requests_queued_together_are_scored_in_one_call_and_answered_each() -> None:
    score = Recorder()

    async def go() -> list[Any]:
        batcher = Batcher(HOUR, 100, score=score)
        answers = await asyncio.gather(*(batcher.submit(Job(n, 2)) for n in "abc"))  # type: ignore[arg-type]
        await batcher.close()
        return answers

    assert run(go()) == [[{"event": f"{n}.0"}, {"event": f"{n}.1"}] for n in "abc"]
    assert score.calls == [["a", "b", "c"]]


def test_a_batch_closes_at_max_events() -> None:
    score = Recorder()

    async def go() -> None:
        batcher = Batcher(0.05, 4, score=score)  # e waits out the 50 ms window for a batch as big as the last
        await asyncio.gather(*(batcher.submit(Job(n, 2)) for n in "abcde"))  # type: ignore[arg-type]
        await batcher.close()

    run(go())
    assert score.calls == [["a", "b"], ["c", "d"], ["e"]]


def test_a_lone_request_does_not_wait_for_the_window() -> None:
    score = Recorder()

    async def go() -> Any:
        batcher = Batcher(HOUR, 100, score=score)
        answer = await batcher.submit(Job("a"))  # type: ignore[arg-type]
        await batcher.close()
        return answer

    assert run(go()) == [{"event": "a.0"}]


def test_the_batch_waits_for_a_request_still_arriving() -> None:
    score = Recorder()

    async def go() -> None:
        batcher = Batcher(HOUR, 100, score=score)
        batcher.arrive()  # b's body is still being read when a is submitted

        async def late() -> Any:
            await asyncio.sleep(0.01)
            batcher.arrived()
            return await batcher.submit(Job("b"))  # type: ignore[arg-type]

        await asyncio.gather(batcher.submit(Job("a")), late())  # type: ignore[arg-type]
        await batcher.close()

    run(go())
    assert score.calls == [["a", "b"]]


def test_a_batch_waits_for_the_clients_in_flight_since_the_last_one() -> None:
    """Clients answered together send again a moment apart: the next batch waits for all of them, instead of
    splitting them into groups that each pay a model call."""
    score = Recorder()

    async def go() -> None:
        batcher = Batcher(1.0, 100, score=score)  # e and f come 10 and 20 ms after d: well within 1 s

        async def client(name: str, delay: float) -> Any:
            await asyncio.sleep(delay)
            batcher.arrive()  # what the app does around each request
            batcher.arrived()
            try:
                return await batcher.submit(Job(name))  # type: ignore[arg-type]
            finally:
                batcher.answered()

        await asyncio.gather(client("a", 0), client("b", 0), client("c", 0))  # 3 in flight at once
        await asyncio.gather(client("d", 0), client("e", 0.01), client("f", 0.02))
        await asyncio.gather(client("g", 0))  # alone: waits out the window once for d, e, f, then scores
        await batcher.close()

    run(go())
    assert score.calls == [["a", "b", "c"], ["d", "e", "f"], ["g"]]


def test_a_request_that_never_arrives_costs_at_most_the_window() -> None:
    score = Recorder()

    async def go() -> None:
        batcher = Batcher(0.01, 100, score=score)
        batcher.arrive()  # and never submits (its body stalls)
        await batcher.submit(Job("a"))  # type: ignore[arg-type]
        await batcher.close()

    run(go())
    assert score.calls == [["a"]]


def test_a_scorer_failure_fails_that_batch_only() -> None:
    score = Recorder(fail=True)

    async def go() -> None:
        batcher = Batcher(HOUR, 100, score=score)
        with pytest.raises(RuntimeError, match="scorer broke"):
            await batcher.submit(Job("a"))  # type: ignore[arg-type]
        score.fail = False
        assert await batcher.submit(Job("b")) == [{"event": "b.0"}]  # type: ignore[arg-type]
        await batcher.close()

    run(go())
    assert score.calls == [["a"], ["b"]]
