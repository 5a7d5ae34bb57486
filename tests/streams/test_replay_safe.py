"""Exactly-once's side effects under replay, on a real Redis: a batch aborted after it remembered its leads emits,
when routed again (whole or cut differently), exactly what it would have emitted the first time; its listeners (the
refit sample, drift, the activity counters) hear of it only once it is committed; a worker that lost its partition
cannot overwrite what the partition's new owner remembered."""

import asyncio
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import pytest
from aiokafka.errors import MessageSizeTooLargeError

from models.events import LeadEvent
from models.settings import Settings
from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from streams.clients.records import LeadMessage, Outgoing
from streams.clients.redis_client import redis_client
from streams.clients.redis_health import RedisHealth
from streams.local.services import start_redis
from streams.model_plane.serving import ModelHolder, ServingModel
from streams.model_plane.store import InMemoryModelStore
from streams.routing.decode import Lead, decode
from streams.routing.replay_safe import ReplaySafeSegments
from streams.routing.router import BatchRouter, RoutedBatch
from tests.services import unique

TOPIC = "leads"


class Aborted(Exception):
    """The transaction failed at its commit: nothing it delivered is visible."""


class Transaction:
    """Keeps what a batch delivered; `commit` publishes it, or fails like a fenced or cut-off commit."""

    def __init__(self, published: list[tuple[str, bytes]], fails: bool = False) -> None:
        self._published, self._fails = published, fails
        self._pending: list[tuple[str, bytes]] = []

    async def deliver(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        self._pending = [(m.topic, m.value) for m in messages]
        return [None] * len(messages)

    async def commit(self) -> None:
        if self._fails:
            raise Aborted
        self._published += [(topic, _timeless(value)) for topic, value in self._pending]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if given := os.environ.get("SEGMENTER_TEST_REDIS"):
        yield given
        return
    service = start_redis(Path(tmp_path_factory.mktemp("redis")))
    yield service.url
    service.stop()


@pytest.fixture(scope="module")
def snapshot() -> ModelSnapshot:
    return fit_model(generate_leads(800, random_state=1).X, config=StrategyConfig(), k=4, version=3)[1]


def events(n: int, leads: int, seed: int = 2) -> list[LeadMessage]:
    """`n` events of `leads` distinct leads (each seen several times, as it changes), at offsets 0..n-1."""
    rows = generate_leads(n, random_state=seed).X
    return [
        LeadMessage(
            TOPIC, 0, i, f"L{i % leads}".encode(), LeadEvent.from_row(f"L{i % leads}", row).model_dump_json().encode()
        )
        for i, row in enumerate(rows)
    ]


class Worker:
    """A router over a real Redis, with replay-safe previous segments under its own key prefix."""

    def __init__(self, url: str, snapshot: ModelSnapshot, prefix: str, retention_seconds: int = 86_400) -> None:
        settings = Settings(redis_url=url, redis_key_prefix=prefix)  # type: ignore[arg-type]
        self.client = redis_client(settings)
        self.segments = ReplaySafeSegments(
            self.client, RedisHealth(self.client, timeout=5), prefix, retention_seconds=retention_seconds
        )
        holder = ModelHolder(InMemoryModelStore(), poll_seconds=1)
        holder.model = ServingModel(snapshot)
        self.heard: list[RoutedBatch] = []
        self.router = BatchRouter(settings, holder, self.segments, Transaction([]), [self.heard.append])

    async def route(self, batch: list[LeadMessage], published: list[tuple[str, bytes]], fails: bool = False) -> None:
        await self.router.route(batch, lambda: False, Transaction(published, fails))


def run_clean(url: str, snapshot: ModelSnapshot, batches: list[list[LeadMessage]]) -> list[tuple[str, bytes]]:
    async def run() -> list[tuple[str, bytes]]:
        worker, published = Worker(url, snapshot, unique("clean")), []
        for batch in batches:
            await worker.route(batch, published)
        return published

    return asyncio.run(run())


@pytest.mark.parametrize("cut", [None, 7, 31])
def test_a_batch_aborted_after_remembering_emits_the_same_outputs_when_routed_again(
    redis_url: str, snapshot: ModelSnapshot, cut: int | None
) -> None:
    stream = events(120, leads=15)
    first, second = stream[:40], stream[40:]
    expected = run_clean(redis_url, snapshot, [first, second])
    transitions = [value for topic, value in expected if topic == Settings().transitions_topic]
    assert len(transitions) > 10  # the leads move: a lost transition would show

    async def run() -> list[tuple[str, bytes]]:
        worker, published = Worker(redis_url, snapshot, unique("replayed")), []
        await worker.route(first, published)
        with pytest.raises(Aborted):  # remembered in Redis, then aborted: nothing published
            await worker.route(second, published, fails=True)
        replay = [second] if cut is None else [second[:cut], second[cut:]]  # the fetch may cut it elsewhere
        for batch in replay:
            await worker.route(batch, published)
        assert sum(batch.received for batch in worker.heard) == len(stream)  # listeners heard each lead once
        return published

    assert asyncio.run(run()) == expected


def test_twice_aborted_batches_and_a_replay_of_a_replay_still_emit_the_same(
    redis_url: str, snapshot: ModelSnapshot
) -> None:
    stream = events(90, leads=10, seed=5)
    expected = run_clean(redis_url, snapshot, [stream[:30], stream[30:]])

    async def run() -> list[tuple[str, bytes]]:
        worker, published = Worker(redis_url, snapshot, unique("twice")), []
        await worker.route(stream[:30], published)
        for batch in (stream[30:], stream[30:55]):  # aborted whole, then aborted again cut shorter
            with pytest.raises(Aborted):
                await worker.route(batch, published, fails=True)
        await worker.route(stream[30:], published)
        return published

    assert asyncio.run(run()) == expected


@pytest.mark.parametrize("zombie_fenced", [True, False])
def test_a_worker_that_lost_its_partition_cannot_overwrite_what_the_new_owner_remembered(
    redis_url: str, snapshot: ModelSnapshot, zombie_fenced: bool
) -> None:
    stream = events(60, leads=6, seed=8)
    next_events = [(m, _lead(m)) for m in stream[40:46]]  # one per lead

    async def run() -> tuple[dict[str, int], dict[str, int]]:
        prefix = unique("zombie")
        zombie, owner = Worker(redis_url, snapshot, prefix), Worker(redis_url, snapshot, prefix)
        await zombie.route(stream[:10], [])  # committed; the zombie holds its token
        owner.segments.fence_anew([(TOPIC, 0)])  # the new owner takes a newer token once it fenced the zombie
        await owner.route(stream[10:40], [])
        remembered = await owner.segments.recall(next_events)
        if not zombie_fenced:  # the control: a writer with a token as new as the owner's would overwrite
            zombie.segments.fence_anew([(TOPIC, 0)])
        with pytest.raises(Aborted):  # the zombie wakes up with its old batch in hand: Kafka fences its commit
            await zombie.route(stream[10:20], [], fails=True)
        return remembered, await owner.segments.recall(next_events)

    remembered, after = asyncio.run(run())
    assert len(remembered) == 6
    assert (after == remembered) is zombie_fenced


def test_what_was_remembered_in_the_last_period_is_recalled_the_same_in_the_next(
    redis_url: str, snapshot: ModelSnapshot
) -> None:
    stream = events(30, leads=4, seed=3)
    replayed = [(m, _lead(m)) for m in stream[10:14]]  # the second batch's first events: its replay sees `previous`
    later = [(m, _lead(m)) for m in stream[20:24]]  # events after it: they see `segment`

    async def run() -> tuple[tuple[dict[str, int], ...], tuple[dict[str, int], ...]]:
        while True:  # both batches written and recalled within one period of a second
            period = int(time.time())
            worker = Worker(redis_url, snapshot, unique("periods"), retention_seconds=1)
            for batch in (stream[:10], stream[10:20]):
                await worker.route(batch, [])
            before = await worker.segments.recall(replayed), await worker.segments.recall(later)
            if int(time.time()) == period:
                break
        await asyncio.sleep(period + 1 - time.time())  # into the next period: this one's hash is the last one's
        assert int(time.time()) == period + 1
        return before, (await worker.segments.recall(replayed), await worker.segments.recall(later))

    before, after = asyncio.run(run())
    assert len(before[0]) == len(before[1]) == 4 and before[0] != before[1]  # both rules at work
    assert after == before


class RefusingTransaction(Transaction):
    """Refuses the batch's first output to the segments topic once, as a broker refuses a record too large."""

    def __init__(self, published: list[tuple[str, bytes]]) -> None:
        super().__init__(published)
        self._refused = False

    async def deliver(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        results = await super().deliver(messages)
        if not self._refused:
            self._refused = True
            results[next(i for i, m in enumerate(messages) if m.topic == Settings().segments_topic)] = (
                MessageSizeTooLargeError()
            )
        return results


@pytest.mark.parametrize("known_before", [True, False])
def test_a_lead_whose_output_the_broker_refused_is_not_remembered_in_that_segment(
    redis_url: str, snapshot: ModelSnapshot, known_before: bool
) -> None:
    """Under exactly_once the previous segments are written while the batch is delivered; a lead whose only
    output the broker refused (dead-lettered instead) is put back where it was: in its earlier segment, or unknown."""
    stream = events(24, leads=12, seed=4)  # each lead once in each batch
    first, second = stream[:12] if known_before else stream[1:12], stream[12:]
    refused = second[0].key.decode()  # the first output of the second batch
    after = [(m._replace(offset=100 + i), _lead(m)) for i, m in enumerate(stream[:12])]

    async def run(batches: list[list[LeadMessage]], refuse_last: bool) -> dict[str, int]:
        worker, published = Worker(redis_url, snapshot, unique("refused")), []
        for batch in batches[:-1]:
            await worker.route(batch, published)
        transaction = RefusingTransaction(published) if refuse_last else Transaction(published)
        await worker.router.route(batches[-1], lambda: False, transaction)
        return await worker.segments.recall(after)

    delivered = asyncio.run(run([first, second], refuse_last=False))
    before = asyncio.run(run([first], refuse_last=False))
    remembered = asyncio.run(run([first, second], refuse_last=True))
    assert delivered[refused] != before.get(refused)  # the lead moved: remembering it there would show
    assert remembered == {lead: segment for lead, segment in delivered.items() if lead != refused} | (
        {refused: before[refused]} if known_before else {}
    )


def _timeless(value: bytes | None) -> bytes:
    """An output without the moment it was routed at (a replay routes later), its distances to 9 digits (numpy
    sums a batch of another shape in another order: the last bits differ)."""
    fields = orjson.loads(value or b"{}")
    return orjson.dumps(
        {key: round(v, 9) if isinstance(v, float) else v for key, v in fields.items() if key != "assigned_at"}
    )


def _lead(message: LeadMessage) -> Lead:
    valid, _, _ = decode([message], 65_536)
    return valid[0][1]
