"""What a routed batch leaves in the Prometheus registry and in the dashboard's recent window, counted once per
batch: leads in, assigned per segment, dead-lettered by class, transitions, latency; no lead id in any label."""

import asyncio
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from models.events import ERROR_CLASSES, LeadEvent
from models.settings import Settings
from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from streams import metrics
from streams.clients.records import LeadMessage, Outgoing
from streams.model_plane.serving import ModelHolder, ServingModel
from streams.model_plane.store import InMemoryModelStore
from streams.operations.activity import Activity
from streams.routing.previous import InMemoryPreviousSegments
from streams.routing.router import BatchRouter
from tests.clock import Clock

SETTINGS = Settings(max_event_bytes=1024)


class Outbox:
    async def deliver(self, messages: list[Outgoing]) -> list[BaseException | None]:
        return [None] * len(messages)


@pytest.fixture(scope="module")
def snapshot() -> ModelSnapshot:
    return fit_model(generate_leads(800, random_state=1).X, config=StrategyConfig(), k=4, version=3)[1]


def batch(n: int, start: int = 0, bad: int = 0) -> list[LeadMessage]:
    rows = generate_leads(n, random_state=start).X
    now = datetime.now(UTC)
    events = [LeadEvent.from_row(f"L{i}", row).model_copy(update={"occurred_at": now}) for i, row in enumerate(rows)]
    good = [
        LeadMessage("leads", i % 2, start + i, f"L{i}".encode(), event.model_dump_json().encode())
        for i, event in enumerate(events)
    ]
    rejects = [
        LeadMessage("leads", 0, start + n + j, b"k", b'{"lead_id": "X", "payload": "PRIVATE-42"}') for j in range(bad)
    ]
    return good + rejects


def route(
    snapshot: ModelSnapshot, activity: Activity, messages: list[LeadMessage], previous: dict[str, int] | None = None
) -> tuple[int, int]:
    holder = ModelHolder(InMemoryModelStore(), poll_seconds=1)
    holder.model = ServingModel(snapshot)
    router = BatchRouter(SETTINGS, holder, InMemoryPreviousSegments(previous), Outbox(), [activity.routed])
    return asyncio.run(router.route(messages, stopping=lambda: False))


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def _totals() -> dict[str, float]:
    return {
        "received": sample("segmenter_leads_received_total"),
        "invalid": sample("segmenter_leads_dead_lettered_total", error_class="invalid"),
        "transitions": sample("segmenter_transitions_total"),
        "batches": sample("segmenter_batch_leads_count"),
        "latency": sample("segmenter_assignment_latency_seconds_count"),
    } | {f"segment {i}": sample("segmenter_leads_assigned_total", segment_id=str(i)) for i in range(20)}


def counts() -> Callable[[], dict[str, float]]:
    """The counters now, to compare with after (the registry is the process's, shared by every test)."""
    before = _totals()

    def delta() -> dict[str, float]:
        return {key: value - before[key] for key, value in _totals().items()}

    return delta


def test_a_batch_is_counted_in_prometheus_and_in_the_window(snapshot: ModelSnapshot) -> None:
    activity = Activity()
    delta = counts()
    # L0..L4 were in segment 99 before: five transitions.
    assigned, dead = route(snapshot, activity, batch(300, bad=3), previous={f"L{i}": 99 for i in range(5)})
    assert (assigned, dead) == (300, 3)
    changes = delta()
    assert changes["received"] == 303
    assert changes["invalid"] == 3
    assert changes["transitions"] == 5
    assert changes["batches"] == 1
    assert 1 <= changes["latency"] <= 8  # a few sampled leads per batch, not one per lead
    assert sum(v for k, v in changes.items() if k.startswith("segment ")) == 300
    assert activity.received == 303 and activity.assigned.total() == 300 and activity.transitions == 5
    assert dict(activity.dead_lettered) == {"invalid": 3}
    window = activity.window()
    assert window.received == 303 and sum(window.assigned.values()) == 300 and window.dead_lettered == 3
    assert {t["from_segment_id"] for t in activity.recent_transitions} == {99}
    assert all("PRIVATE-42" not in str(d) for d in activity.recent_dead_letters)
    rows, segments = activity.points()
    assert len(rows) == 32 and set(segments.tolist()) <= {s.id for s in snapshot.segments}


def test_the_window_forgets_old_batches_and_the_totals_do_not(snapshot: ModelSnapshot) -> None:
    clock = Clock()
    activity = Activity(window_seconds=60, clock=clock)
    route(snapshot, activity, batch(50))
    clock.now += 61
    route(snapshot, activity, batch(20, start=50))
    assert activity.window().received == 20
    assert activity.received == 70


def test_the_progress_line_counts_the_time_spent_routing_and_its_lag_is_the_gauges(
    snapshot: ModelSnapshot, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    activity = Activity(clock=clock)
    caplog.set_level(logging.INFO, logger="streams.operations.activity")
    metrics.set_lag_source(lambda: {("leads", 0): 4, ("leads", 1): 0})
    try:
        for step in range(20):  # a batch a second; the worker's timer asks for a line every 10 s
            route(snapshot, activity, batch(10, start=10 * step))
            clock.now += 1
            if step % 10 == 9:
                activity.progress()
        clock.now += 155  # idle: nothing routed, no line
        activity.progress()
        route(snapshot, activity, batch(40, start=900))  # a burst after the idle time
        clock.now += 1
        activity.progress()
        gauge = sum(
            s.value for s in next(iter(metrics._LAG.collect())).samples if s.labels["topic"] == "leads"
        )  # what /metrics says at the same moment
    finally:
        metrics.set_lag_source(None)
    lines = [r.getMessage() for r in caplog.records if r.name == "streams.operations.activity"]
    assert len(lines) == 3, lines
    pattern = r"routed (\d+) leads in the last (\d+)s \((\d+)/s over the (\d+) ms spent routing them\)"
    said = [re.match(pattern, line) for line in lines]
    assert [(int(m[1]), int(m[2])) for m in said if m] == [(100, 10), (100, 10), (40, 1)], lines
    for m in said:
        assert m is not None and int(m[4]) < 5000  # routing took a fraction of the interval
        assert int(m[3]) > int(m[1]) / 5  # a rate over the routing time, not averaged over the interval
    assert lines[-1].endswith(f"lag {int(gauge)}") and gauge == 4


def test_every_labelled_counter_is_exported_at_0_from_the_start(snapshot: ModelSnapshot) -> None:
    fresh = subprocess.run(
        [sys.executable, "-c", "from streams import metrics; metrics.model_served(3, [0, 2, 5], 0.0); "
         "print(metrics.generate_text())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    text = fresh.stdout
    for error_class in ERROR_CLASSES:
        assert f'segmenter_leads_dead_lettered_total{{error_class="{error_class}"}} 0.0' in text, error_class
    for outcome in ("promoted", "rejected", "error"):
        assert f'segmenter_refits_total{{outcome="{outcome}"}} 0.0' in text
    for segment_id in (0, 2, 5):
        assert f'segmenter_leads_assigned_total{{segment_id="{segment_id}"}} 0.0' in text


def test_metric_names_follow_prometheus_conventions_and_labels_hold_no_lead_id(snapshot: ModelSnapshot) -> None:
    route(snapshot, Activity(), batch(100, bad=1))
    metrics.model_served(snapshot.version, snapshot.segment_ids, snapshot.created_at.timestamp())
    metrics.refit_finished("promoted", 12.5)
    text = metrics.generate_text()
    ours = {line.split()[2]: line.split()[3] for line in text.splitlines() if line.startswith("# TYPE segmenter_")}
    for name, kind in ours.items():
        assert re.fullmatch(r"segmenter_[a-z_]+", name), name
        if kind == "counter":
            assert name.endswith("_total"), name
        if name.endswith("_seconds") or kind == "histogram":
            assert kind in ("histogram", "gauge"), name
    assert {
        "segmenter_leads_received_total",
        "segmenter_leads_assigned_total",
        "segmenter_leads_dead_lettered_total",
        "segmenter_transitions_total",
        "segmenter_assignment_latency_seconds",
        "segmenter_batch_leads",
        "segmenter_model_version",
        "segmenter_model_age_seconds",
        "segmenter_refits_total",
        "segmenter_refit_duration_seconds",
        "segmenter_consumer_lag_records",
        "segmenter_event_loop_lag_seconds",
        "segmenter_redis_up",
    } <= set(ours)
    assert f"segmenter_model_version {float(snapshot.version)}" in text
    assert 'segmenter_refits_total{outcome="promoted"}' in text
    assert not re.search(r'"L\d+"', text)  # no lead id anywhere
    assert "PRIVATE-42" not in text


def test_consumer_lag_comes_from_the_engine_and_a_failing_source_shows_none() -> None:
    metrics.set_lag_source(lambda: {("leads", 1): 7, ("leads", 0): 2})
    try:
        assert 'segmenter_consumer_lag_records{partition="1",topic="leads"} 7.0' in metrics.generate_text()

        def broken() -> dict[tuple[str, int], int]:
            raise RuntimeError("between rebalances")

        metrics.set_lag_source(broken)
        assert metrics.consumer_lag() == {}
    finally:
        metrics.set_lag_source(None)
