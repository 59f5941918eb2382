"""What `strata serve` counts, in Prometheus' text format at GET /metrics.

Labels are bounded: paths are the server's own routes (anything else is ``other``), rejected events are
counted per rule as validate counts them (``"unparseable float: weight"``), never per raw value. With
several workers each process writes its samples to ``PROMETHEUS_MULTIPROC_DIR`` (set by `strata serve`)
and /metrics adds them up, whichever worker answers.
"""

from __future__ import annotations

import os
from typing import Any

PATHS = ("/predict", "/health", "/ready", "/metrics", "/openapi.json", "/docs")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The server's metrics, in their own registry (several apps in one process do not collide)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self._serving: tuple[str, str, str] | None = None
        registry = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "strata_requests", "HTTP requests by path, method and status", ["path", "method", "status"],
            registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "strata_request_duration_seconds", "Time from the request's headers to the end of the answer",
            ["path"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_events = Histogram(
            "strata_batch_events", "Events per model call (micro-batches of concurrent requests)",
            buckets=BATCH_BUCKETS, registry=registry,
        )  # fmt: skip
        self.events = Counter(
            "strata_events", "Events received by /predict, by outcome (scored, rejected)", ["outcome"],
            registry=registry,
        )  # fmt: skip
        self.rejected = Counter(
            "strata_rejected_events", "Events the contract rejected, per rule, as validate counts them",
            ["reason"], registry=registry,
        )  # fmt: skip
        self.model = Gauge(
            "strata_model_info", "The model being served (value 1), by version, sha256 and kind",
            ["version", "sha256", "kind"], registry=registry, multiprocess_mode="liveall",
        )  # fmt: skip

    def request(self, path: str, method: str, status: int, seconds: float) -> None:
        path = path if path in PATHS else "other"
        self.requests.labels(path, method, str(status)).inc()
        self.latency.labels(path).observe(seconds)

    def scored(self, model_calls: list[int], scored: int, rejected: dict[str, int], rows: int) -> None:
        for size in model_calls:
            self.batch_events.observe(size)
        if scored:
            self.events.labels("scored").inc(scored)
        if rows - scored:
            self.events.labels("rejected").inc(rows - scored)
        for reason, count in rejected.items():
            self.rejected.labels(reason).inc(count)

    def serving(self, summary: dict[str, Any]) -> None:
        """The model now serving has the value 1; after a swap the one before is removed (0 with several
        workers, where prometheus_client cannot remove a label set)."""
        labels = (summary["version"], summary["sha256"], summary["kind"] or "")
        if self._serving is not None and self._serving != labels:
            if self.multiprocess:
                self.model.labels(*self._serving).set(0)
            else:
                self.model.remove(*self._serving)
        self.model.labels(*labels).set(1)
        self._serving = labels

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        if not self.multiprocess:
            return bytes(generate_latest(self.registry))
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return bytes(generate_latest(registry))
