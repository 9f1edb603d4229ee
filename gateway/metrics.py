"""Prometheus metrics of one gateway (its own registry, so several apps in one process stay apart)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests",
            "Requests answered, by provider, route and status",
            ["provider", "route", "status"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "gateway_rejections", "Requests refused before forwarding, by reason", ["reason"], registry=self.registry
        )
        self.upstream_seconds = Histogram(
            "gateway_upstream_seconds",
            "Time from forwarding to the provider's response headers",
            ["provider"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.recorded = Counter("gateway_usage_recorded", "Usage rows written to the database", registry=self.registry)
        self.queue_depth = Gauge("gateway_queue_depth", "Records waiting to be written", registry=self.registry)
        self.journal_bytes = Gauge(
            "gateway_journal_bytes", "Size of the journals waiting for the database", registry=self.registry
        )
        self.disconnects = Counter(
            "gateway_client_disconnects",
            "Clients that hung up before the answer (upstream cancelled)",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
