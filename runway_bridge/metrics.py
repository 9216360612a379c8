"""Prometheus metrics, one registry per daemon (no module state), fed by the hosts.

Label values come only from models in the catalogue and commands their manifests list: the host
labels any other name ``_other`` (a client inventing 20,000 command names once made a 105 MB
``/metrics``). As a second guard, at most `MAX_COMMAND_SERIES` (model, command) pairs are ever
labelled; later ones count as ``_other`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

__all__ = ["Metrics", "MAX_COMMAND_SERIES"]

MAX_COMMAND_SERIES = 512


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("runway_bridge_requests", "Commands run, by outcome", ["model", "command", "status"], registry=r)
        self.latency = Histogram("runway_bridge_command_seconds", "Time a command spent in its backend",
                                 ["model", "command"], registry=r,
                                 buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10))
        self.frames = Counter("runway_bridge_stream_frames", "Stream frames, by fate", ["model", "fate"], registry=r)
        self.batch_size = Histogram("runway_bridge_batch_size", "Frames per call of a batching command", ["model"],
                                    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64), registry=r)
        self.rejected_total = Counter("runway_bridge_rejected", "Requests refused because the queue was full", ["model"], registry=r)
        self.state = Gauge("runway_bridge_model_running", "1 when the model is RUNNING", ["model"], registry=r)
        self._pairs: set[tuple[str, str]] = set()

    def watch_streams(self, hosts: Callable[[], Iterable]) -> None:
        """Per-stream counters, read from the live streams at scrape time (closed ones vanish)."""
        self.registry.register(_StreamCollector(hosts))

    def watch_counts(self, name: str, doc: str, label: str, counts: Callable[[], dict]) -> None:
        """Counters another part keeps in a plain dict (label value -> count), read at scrape time."""
        self.registry.register(_CountsCollector(name, doc, label, counts))

    def watch_value(self, name: str, doc: str, value: Callable[[], float]) -> None:
        """A gauge another part keeps (e.g. the in-flight bytes), read at scrape time."""
        self.registry.register(_ValueCollector(name, doc, value))

    def observe(self, model: str, command: str, status: str, seconds: float) -> None:
        if (model, command) not in self._pairs:
            if len(self._pairs) >= MAX_COMMAND_SERIES:
                command = "_other"
            self._pairs.add((model, command))
        self.requests.labels(model, command, status).inc()
        self.latency.labels(model, command).observe(seconds)

    def received(self, model: str) -> None:
        self.frames.labels(model, "received").inc()

    def dropped(self, model: str) -> None:
        self.frames.labels(model, "dropped").inc()

    def processed(self, model: str) -> None:
        self.frames.labels(model, "processed").inc()

    def batch(self, model: str, size: int) -> None:
        self.batch_size.labels(model).observe(size)

    def rejected(self, model: str) -> None:
        self.rejected_total.labels(model).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StreamCollector:
    def __init__(self, hosts: Callable[[], Iterable]):
        self.hosts = hosts

    def collect(self):
        frames = GaugeMetricFamily("runway_bridge_stream_frames_now", "Frames of each open stream, by fate",
                                   labels=["model", "stream", "fate"])
        latency = GaugeMetricFamily("runway_bridge_stream_latency_ms", "Latest arrival-to-result time of each open stream",
                                    labels=["model", "stream"])
        for host in self.hosts():
            for s in host.streams:
                for fate in ("received", "processed", "dropped"):
                    frames.add_metric([host.id, str(s.id), fate], getattr(s, fate))
                latency.add_metric([host.id, str(s.id)], s.last_latency_ms)
        yield frames
        yield latency


class _CountsCollector:
    def __init__(self, name: str, doc: str, label: str, counts: Callable[[], dict]):
        self.name, self.doc, self.label, self.counts = name, doc, label, counts

    def collect(self):
        family = CounterMetricFamily(self.name, self.doc, labels=[self.label])
        for value, count in self.counts().items():
            family.add_metric([value], count)
        yield family


class _ValueCollector:
    def __init__(self, name: str, doc: str, value: Callable[[], float]):
        self.name, self.doc, self.value = name, doc, value

    def collect(self):
        yield GaugeMetricFamily(self.name, self.doc, value=self.value())
