"""The worker's Prometheus metrics, in one registry served at `/metrics`. Labels are bounded: segment ids,
error classes, refit outcomes, topic partitions; never a lead id. The hot path touches them once per batch
(`streams.activity`), never once per lead."""

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from models.events import ERROR_CLASSES

__all__ = [
    "ASSIGNED",
    "ASSIGNMENT_LATENCY",
    "BATCH_SECONDS",
    "BATCH_SIZE",
    "DEAD_LETTERED",
    "DRIFT_SCORE",
    "MODEL_STALE",
    "OBSERVED_CLOSE_RATE",
    "OUTCOMES",
    "OUTCOME_STATUSES",
    "EVENT_LOOP_LAG",
    "KAFKA_DELIVERY_UP",
    "MODEL_SEGMENTS",
    "MODEL_VERSION",
    "RECEIVED",
    "REDIS_UP",
    "REFITS",
    "REFIT_SECONDS",
    "REGISTRY",
    "TRANSITIONS",
    "LagSource",
    "consumer_lag",
    "generate_text",
    "model_served",
    "observed_close_rates",
    "refit_finished",
    "set_lag_source",
    "value",
]

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` series beside each counter
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 100_000)

RECEIVED = Counter("segmenter_leads_received", "Lead messages read from the leads topic", registry=REGISTRY)
ASSIGNED = Counter(
    "segmenter_leads_assigned", "Leads assigned and acknowledged, by segment id", ["segment_id"], registry=REGISTRY
)
DEAD_LETTERED = Counter(
    "segmenter_leads_dead_lettered",
    "Lead messages sent to the dead-letter topic, by error class",
    ["error_class"],
    registry=REGISTRY,
)
TRANSITIONS = Counter("segmenter_transitions", "Assignments that moved a lead to another segment", registry=REGISTRY)
ASSIGNMENT_LATENCY = Histogram(
    "segmenter_assignment_latency_seconds",
    "Event time (occurred_at, else the Kafka timestamp) to output acknowledged; a few sampled leads per batch",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "segmenter_batch_leads", "Lead messages per routed batch", buckets=_BATCH_BUCKETS, registry=REGISTRY
)
BATCH_SECONDS = Histogram(
    "segmenter_batch_duration_seconds",
    "Time to route one batch, decode to acknowledged outputs",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
MODEL_VERSION = Gauge("segmenter_model_version", "Version of the model served (0: none yet)", registry=REGISTRY)
MODEL_SEGMENTS = Gauge("segmenter_model_segments", "Segments (K) of the model served", registry=REGISTRY)
_MODEL_AGE = Gauge(
    "segmenter_model_age_seconds", "Seconds since the model served was created (0: none yet)", registry=REGISTRY
)
REFITS = Counter(
    "segmenter_refits",
    "Refits finished, by outcome (promoted, rejected, error)",
    ["outcome"],
    registry=REGISTRY,
)
REFIT_SECONDS = Histogram(
    "segmenter_refit_duration_seconds",
    "Duration of a refit, sample to outcome",
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
EVENT_LOOP_LAG = Gauge(
    "segmenter_event_loop_lag_seconds", "How late the event loop ran a timer, last measured", registry=REGISTRY
)
REDIS_UP = Gauge("segmenter_redis_up", "1 while Redis answers, 0 while the worker treats it as down", registry=REGISTRY)
KAFKA_DELIVERY_UP = Gauge(
    "segmenter_kafka_delivery_up", "1 while outputs are acknowledged, 0 during a delivery outage", registry=REGISTRY
)
DRIFT_SCORE = Gauge(
    "segmenter_drift_score",
    "Drift of this worker's recent leads from the served model's fit (1 or more: drifting; NaN: not judged)",
    registry=REGISTRY,
)
MODEL_STALE = Gauge(
    "segmenter_model_stale",
    "1 while this worker's leads drift and the refit it asked for on drift was refused (drifting_refused)",
    registry=REGISTRY,
)
# What became of each outcome message read: counted as its outcome, a duplicate (its outcome id was counted
# before), for a lead never routed, after its lead's window closed, or dead-lettered.
OUTCOME_STATUSES = ("won", "lost", "reopened", "duplicate", "unattributed", "after_window", "dead_lettered")
OUTCOMES = Counter(
    "segmenter_outcomes",
    "Outcome messages read, by status: " + ", ".join(OUTCOME_STATUSES),
    ["status"],
    registry=REGISTRY,
)
OBSERVED_CLOSE_RATE = Gauge(
    "segmenter_observed_close_rate",
    "Won / (won + lost) of the served model's leads by segment and arm, from the tallies in Redis (NaN: none matured)",
    ["segment_id", "arm"],
    registry=REGISTRY,
)
REDIS_UP.set(1)
KAFKA_DELIVERY_UP.set(1)
DRIFT_SCORE.set(float("nan"))
# Every labelled series exists at 0 from the start, so that an alert on it sees 0 rather than no data.
for _error_class in ERROR_CLASSES:
    DEAD_LETTERED.labels(error_class=_error_class)
for _outcome in ("promoted", "rejected", "error"):
    REFITS.labels(outcome=_outcome)
for _status in OUTCOME_STATUSES:
    OUTCOMES.labels(status=_status)

_model_created_at = 0.0
_MODEL_AGE.set_function(lambda: time.time() - _model_created_at if _model_created_at else 0.0)


def model_served(version: int, segment_ids: Sequence[int], created_at: float) -> None:
    """Record the model now served: its version, K and creation time (epoch seconds); each of its segments'
    assigned counter exists from now on, at 0 until a lead is assigned to it."""
    global _model_created_at
    MODEL_VERSION.set(version)
    MODEL_SEGMENTS.set(len(segment_ids))
    for segment_id in segment_ids:
        ASSIGNED.labels(segment_id=str(segment_id))
    _model_created_at = created_at


def observed_close_rates(rates: dict[tuple[int, str], float]) -> None:
    """Set the observed close rate per (segment id, arm) of the served model, dropping series no longer given."""
    OBSERVED_CLOSE_RATE.clear()
    for (segment_id, arm), rate in rates.items():
        OBSERVED_CLOSE_RATE.labels(segment_id=str(segment_id), arm=arm).set(rate)


def value(gauge: Gauge) -> float:
    """The current value of an unlabelled gauge."""
    return float(next(iter(gauge.collect())).samples[0].value)


def refit_finished(outcome: str, seconds: float) -> None:
    """Record a finished refit: `outcome` is the type of its reply (promoted, rejected, error)."""
    REFITS.labels(outcome=outcome).inc()
    REFIT_SECONDS.observe(seconds)


# Each source gives the lag (records not yet consumed) per (topic, partition) it consumes, read at scrape time.
LagSource = Callable[[], dict[tuple[str, int], int]]


class _ConsumerLag(Collector):
    def __init__(self) -> None:
        self.source: LagSource | None = None

    def collect(self) -> Iterable[Any]:
        family = GaugeMetricFamily(
            "segmenter_consumer_lag_records",
            "Records in the leads topic not yet consumed by this worker, per partition it holds",
            labels=["topic", "partition"],
        )
        for (topic, partition), lag in sorted(self.lags().items()):
            family.add_metric([topic, str(partition)], lag)
        yield family

    def lags(self) -> dict[tuple[str, int], int]:
        if self.source is None:
            return {}
        try:
            return self.source()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the consumer is between states
            return {}

    def describe(self) -> Iterator[Any]:
        return iter(())


_LAG = _ConsumerLag()
REGISTRY.register(_LAG)


def set_lag_source(source: LagSource | None) -> None:
    """Where `segmenter_consumer_lag_records` is read from (the engine's consumer)."""
    _LAG.source = source


def consumer_lag() -> dict[tuple[str, int], int]:
    """The lag per partition, as the metric shows it."""
    return _LAG.lags()


def generate_text() -> str:
    """Every metric in the Prometheus text format, as `/metrics` serves it."""
    return generate_latest(REGISTRY).decode()
