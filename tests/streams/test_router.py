"""BatchRouter's delivery rules with a scripted producer: what is sent again, what is dead-lettered."""

import asyncio
from collections.abc import Iterator, Sequence

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from models.events import LeadEvent, SegmentTransition
from models.settings import Settings
from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from streams import metrics
from streams.clients.records import LeadMessage, Outgoing
from streams.exceptions import WorkerStoppingError
from streams.model_plane.serving import ModelHolder, ServingModel
from streams.model_plane.store import InMemoryModelStore
from streams.operations.activity import Activity
from streams.operations.dashboard import state
from streams.routing.previous import InMemoryPreviousSegments
from streams.routing.router import BatchRouter

SETTINGS = Settings(max_event_bytes=1024)


class ScriptedOutbox:
    """The first `fail_first` messages to `fail_topic` fail with `error`; every delivered message is kept."""

    def __init__(self, fail_topic: str = "", fail_first: int = 0, error: Exception | None = None) -> None:
        self.fail_topic, self.fail_first, self.error = fail_topic, fail_first, error
        self.calls = 0
        self.delivered: list[tuple[str, bytes | None, dict[str, bytes]]] = []

    async def deliver(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        for m in messages:
            self.calls += 1
            if m.topic == self.fail_topic and self.fail_first > 0:
                self.fail_first -= 1
                results.append(self.error or KafkaTimeoutError())
            else:
                results.append(None)
                self.delivered.append((m.topic, m.value, dict(m.headers)))
        return results


@pytest.fixture(scope="module")
def snapshot() -> ModelSnapshot:
    return fit_model(generate_leads(800, random_state=1).X, config=StrategyConfig(), k=4, version=3)[1]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_sleep = asyncio.sleep

    async def instant(_: float) -> None:
        await real_sleep(0)

    monkeypatch.setattr("streams.routing.delivery.asyncio.sleep", instant)
    yield


def leads(n: int) -> list[LeadMessage]:
    rows = generate_leads(n, random_state=2).X
    return [
        LeadMessage("leads", 0, i, f"L{i}".encode(), LeadEvent.from_row(f"L{i}", row).model_dump_json().encode())
        for i, row in enumerate(rows)
    ]


def route(
    snapshot: ModelSnapshot, producer: ScriptedOutbox, batch: list[LeadMessage], stopping: bool = False
) -> tuple[int, int]:
    holder = ModelHolder(InMemoryModelStore(), poll_seconds=1)
    holder.model = ServingModel(snapshot)
    router = BatchRouter(SETTINGS, holder, InMemoryPreviousSegments(), producer)
    return asyncio.run(router.route(batch, stopping=lambda: stopping))


def test_an_oversize_event_is_dead_lettered_with_its_first_bytes(snapshot: ModelSnapshot) -> None:
    producer = ScriptedOutbox()
    big = LeadMessage("leads", 0, 9, b"big", b'{"lead_id": "x", "pad": "' + b"x" * 5000 + b'"}')
    assert route(snapshot, producer, [*leads(3), big]) == (3, 1)
    [(_, value, headers)] = [d for d in producer.delivered if d[0] == SETTINGS.dlq_topic]
    assert value == big.value[:1024] and headers["error_class"] == b"oversize"


def test_only_the_failed_messages_are_sent_again(snapshot: ModelSnapshot) -> None:
    producer = ScriptedOutbox(SETTINGS.segments_topic, fail_first=3)
    assert route(snapshot, producer, leads(5)) == (5, 0)
    assert producer.calls == 8  # five sent, three of them failed and were sent once more
    assert sorted(value for topic, value, _ in producer.delivered) == sorted(
        value for topic, value, _ in producer.delivered if topic == SETTINGS.segments_topic
    )
    assert len(producer.delivered) == 5


def test_an_output_the_broker_never_takes_becomes_a_dead_letter_of_its_input(snapshot: ModelSnapshot) -> None:
    producer = ScriptedOutbox(SETTINGS.segments_topic, fail_first=2, error=MessageSizeTooLargeError())
    batch = leads(2)
    route(snapshot, producer, batch)
    letters = [d for d in producer.delivered if d[0] == SETTINGS.dlq_topic]
    assert [value for _, value, _ in letters] == [raw.value for raw in batch]
    assert {headers["error_class"] for _, _, headers in letters} == {b"undeliverable"}
    assert b"MessageSizeTooLargeError" in letters[0][2]["reason"]


def test_a_lead_whose_output_the_broker_refused_is_counted_once_shown_and_not_remembered(
    snapshot: ModelSnapshot,
) -> None:
    """The segment of the first lead never reached Kafka: that lead is dead-lettered (counted so, once, in the
    activity, the dashboard and Prometheus), and not remembered as in a segment no consumer received."""
    producer = ScriptedOutbox(SETTINGS.segments_topic, fail_first=1, error=MessageSizeTooLargeError())
    holder = ModelHolder(InMemoryModelStore(), poll_seconds=1)
    holder.model = ServingModel(snapshot)
    previous, activity = InMemoryPreviousSegments(), Activity()
    router = BatchRouter(SETTINGS, holder, previous, producer, [activity.routed])
    counted = (
        metrics.REGISTRY.get_sample_value("segmenter_leads_dead_lettered_total", {"error_class": "undeliverable"})
        or 0.0
    )

    assert asyncio.run(router.route(leads(3), stopping=lambda: False)) == (2, 1)

    assert (activity.received, activity.assigned.total(), dict(activity.dead_lettered)) == (3, 2, {"undeliverable": 1})
    shown = state(holder, activity)
    assert shown["totals"] | {"transitions": 0} == {"received": 3, "assigned": 2, "dead_lettered": 1, "transitions": 0}
    assert [(d["error_class"], d["offset"]) for d in shown["recent_dead_letters"]] == [("undeliverable", 0)]
    assert (
        metrics.REGISTRY.get_sample_value("segmenter_leads_dead_lettered_total", {"error_class": "undeliverable"})
        == counted + 1
    )
    assert sorted(previous.segments) == ["L1", "L2"]


def test_a_stopping_worker_gives_up_the_batch_unacknowledged(snapshot: ModelSnapshot) -> None:
    producer = ScriptedOutbox()
    with pytest.raises(WorkerStoppingError):
        route(snapshot, producer, leads(2), stopping=True)
    assert producer.delivered == []


def test_only_leads_that_moved_get_a_transition_and_it_is_a_segment_transition(snapshot: ModelSnapshot) -> None:
    batch = leads(40)
    holder = ModelHolder(InMemoryModelStore(), poll_seconds=1)
    holder.model = ServingModel(snapshot)
    assigned = holder.model.segmenter.predict(generate_leads(40, random_state=2).X)
    ids = [s.id for s in snapshot.segments]
    # the first 10 leads were in another segment, the rest in the one they are assigned now
    previous = {f"L{i}": ids[(a + (i < 10)) % len(ids)] for i, a in enumerate(assigned.tolist())}
    outbox = ScriptedOutbox()
    router = BatchRouter(SETTINGS, holder, InMemoryPreviousSegments(previous), outbox)
    assert asyncio.run(router.route(batch, stopping=lambda: False)) == (40, 0)
    moved = [
        SegmentTransition.model_validate_json(v or b"")
        for t, v, _ in outbox.delivered
        if t == SETTINGS.transitions_topic
    ]
    assert sorted(t.lead_id for t in moved) == sorted(f"L{i}" for i in range(10))
    assert all(t.reason == "lead_changed" and t.to_model_version == 3 for t in moved)
