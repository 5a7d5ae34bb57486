"""The model swap (`ModelHolder`) on the in-memory store: notices, polling, outages, never backwards,
and one model per batch."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import orjson
import pytest

from models.events import LeadEvent
from models.settings import Settings
from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from streams.clients.records import LeadMessage, Outgoing
from streams.model_plane.serving import ModelHolder
from streams.model_plane.store import InMemoryModelStore
from streams.routing.previous import InMemoryPreviousSegments
from streams.routing.router import BatchRouter
from tests.waiting import eventually

NEVER = 3600.0  # a poll interval that never comes within a test


@pytest.fixture(scope="module")
def snapshot() -> ModelSnapshot:
    return fit_model(generate_leads(600, random_state=4).X, config=StrategyConfig(), k=3, version=1)[1]


def version(snapshot: ModelSnapshot, number: int) -> ModelSnapshot:
    return snapshot.model_copy(update={"version": number})


def served(holder: ModelHolder) -> int | None:
    return holder.model.version if holder.model else None


def run_with_holder(
    store: InMemoryModelStore, poll_seconds: float, body: Callable[[ModelHolder], Awaitable[None]]
) -> None:
    async def main() -> None:
        holder = ModelHolder(store, poll_seconds=poll_seconds)
        await holder.start()
        await eventually(lambda: store.subscribers == 1, "the holder to subscribe to notices")
        try:
            await body(holder)
        finally:
            await holder.stop()

    asyncio.run(main())


def test_a_started_holder_serves_the_current_version_and_swaps_on_a_notice(snapshot: ModelSnapshot) -> None:
    store = InMemoryModelStore()

    async def body(holder: ModelHolder) -> None:
        assert served(holder) == 1
        await store.publish(version(snapshot, 2))
        await eventually(lambda: served(holder) == 2, "the announced version")

    asyncio.run(store.publish(version(snapshot, 1)))
    run_with_holder(store, NEVER, body)


def test_a_lost_notice_is_caught_up_by_the_poll(snapshot: ModelSnapshot) -> None:
    store = InMemoryModelStore()

    async def body(holder: ModelHolder) -> None:
        await store.publish(version(snapshot, 5), announce=False)
        await eventually(lambda: served(holder) == 5, "the polled version")

    asyncio.run(store.publish(version(snapshot, 4)))
    run_with_holder(store, 0.05, body)


def test_without_any_model_the_holder_waits_and_takes_the_first_one_published(snapshot: ModelSnapshot) -> None:
    store = InMemoryModelStore()

    async def body(holder: ModelHolder) -> None:
        assert holder.model is None
        waiting = asyncio.create_task(holder.wait_for_model(lambda: False))
        await store.publish(version(snapshot, 1))
        assert (await asyncio.wait_for(waiting, 10)).version == 1

    run_with_holder(store, NEVER, body)


class RewoundStore(InMemoryModelStore):
    """A store whose pointer went back (a Redis restored from an old backup, say)."""

    def __init__(self, rewound_to: int) -> None:
        super().__init__()
        self.rewound_to: int | None = None
        self._to = rewound_to

    def rewind(self) -> None:
        self.rewound_to = self._to

    async def current_version(self) -> int | None:
        return self.rewound_to if self.rewound_to is not None else await super().current_version()


def test_the_served_version_never_goes_backwards(snapshot: ModelSnapshot) -> None:
    store = RewoundStore(rewound_to=2)

    async def body(holder: ModelHolder) -> None:
        await store.publish(version(snapshot, 3))
        await eventually(lambda: served(holder) == 3, "version 3")
        store.rewind()
        assert await holder.refresh() is False
        assert served(holder) == 3

    asyncio.run(store.publish(version(snapshot, 2)))
    run_with_holder(store, NEVER, body)


def test_an_unreachable_store_keeps_the_served_model_says_so_once_and_catches_up(
    snapshot: ModelSnapshot, caplog: pytest.LogCaptureFixture
) -> None:
    store = InMemoryModelStore()

    async def body(holder: ModelHolder) -> None:
        store.reachable = False
        await eventually(lambda: sum("unreachable" in r.message for r in caplog.records) >= 1, "the outage warning")
        polls_seen = len(caplog.records)
        await asyncio.sleep(0.2)  # several polls fail meanwhile: the warning is not repeated
        assert served(holder) == 1
        assert sum("unreachable" in r.message for r in caplog.records) == 1, caplog.records[polls_seen:]
        store.reachable = True
        await store.publish(version(snapshot, 2), announce=False)
        await eventually(lambda: served(holder) == 2, "the version published during the outage")

    asyncio.run(store.publish(version(snapshot, 1)))
    with caplog.at_level(logging.WARNING, logger="streams.model_plane.serving"):
        run_with_holder(store, 0.02, body)


def test_a_version_that_cannot_be_served_is_refused_and_the_served_model_stays(snapshot: ModelSnapshot) -> None:
    store = InMemoryModelStore()
    broken = version(snapshot, 2).model_copy(update={"features": list(reversed(snapshot.features))})

    async def body(holder: ModelHolder) -> None:
        await store.publish(broken)
        assert await holder.refresh() is False
        assert served(holder) == 1

    asyncio.run(store.publish(version(snapshot, 1)))
    run_with_holder(store, NEVER, body)


class SwappingOutbox:
    """Delivers everything; while the first batch is being delivered, a newer model is published and
    swapped in, as an announcement arriving mid-batch would."""

    def __init__(self, swap: Callable[[], Awaitable[None]]) -> None:
        self._swap: Callable[[], Awaitable[None]] | None = swap
        self.batches: list[list[Outgoing]] = []

    async def deliver(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        if self._swap is not None:
            swap, self._swap = self._swap, None
            await swap()
        self.batches.append(list(messages))
        return [None] * len(messages)


def test_no_batch_mixes_model_versions(snapshot: ModelSnapshot) -> None:
    store = InMemoryModelStore()
    rows = generate_leads(40, random_state=5).X
    raws = [
        LeadMessage("leads", 0, i, None, LeadEvent.from_row(f"L{i}", row).model_dump_json().encode())
        for i, row in enumerate(rows)
    ]

    async def body(holder: ModelHolder) -> None:
        async def swap() -> None:
            await store.publish(version(snapshot, 2))
            await eventually(lambda: served(holder) == 2, "the swap")

        outbox = SwappingOutbox(swap)
        router = BatchRouter(Settings(), holder, InMemoryPreviousSegments(), outbox)
        await router.route(raws[:20], lambda: False)
        await router.route(raws[20:], lambda: False)
        versions = [{orjson.loads(m.value or b"")["model_version"] for m in batch} for batch in outbox.batches]
        assert versions == [{1}, {2}]

    asyncio.run(store.publish(version(snapshot, 1)))
    run_with_holder(store, NEVER, body)
