"""Prometheus metrics of one server: requests by route and status, latency, and batch sizes.

Each app gets its own ``CollectorRegistry`` (not the process-global default), so several apps in one
process (tests) never collide. Routes are labelled by their path template, and every path the app
does not know is labelled ``other``, so a scanner cannot blow up the label cardinality.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("warmstart_requests", "HTTP requests answered, by route and status code",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("warmstart_request_duration_seconds", "Time from request to response, by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("warmstart_batch_size", "Items per forward pass, by route", ["route"],
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("warmstart_requests_in_flight", "Requests being handled now", registry=self.registry)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def observe_batch(self, route: str, size: int) -> None:
        self.batch_size.labels(route=route).observe(size)

    def render(self) -> bytes:
        return generate_latest(self.registry)
