"""A Redis server that hangs (SIGSTOP: connections accepted, nothing answered) costs the router one bounded
wait, not one per batch; what was assigned meanwhile reaches Redis once it answers again. Real Valkey."""

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.events import LeadEvent
from models.settings import Settings
from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from streams.clients.records import LeadMessage, Outgoing
from streams.clients.redis_client import redis_client
from streams.clients.redis_health import RedisHealth
from streams.local.services import LocalService, start_redis
from streams.model_plane.serving import ModelHolder, ServingModel
from streams.model_plane.store import InMemoryModelStore
from streams.routing.previous import RedisPreviousSegments
from streams.routing.router import BatchRouter
from tests.services import stored_previous_segments
from tests.waiting import eventually

TIMEOUT = 2.0  # RedisHealth's bound on one wait; the client's own socket timeout is 5 s
BATCHES_WHILE_HUNG = 4


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[LocalService]:
    service = start_redis(tmp_path)
    yield service
    os.kill(service.process.pid, signal.SIGCONT)  # never leave a stopped server behind
    service.stop()


class Outbox:
    async def deliver(self, messages: list[Outgoing]) -> list[BaseException | None]:
        return [None] * len(messages)


def batches(n: int, size: int) -> list[list[LeadMessage]]:
    rows = generate_leads(n * size, random_state=6).X
    raws = [
        LeadMessage("leads", 0, i, None, LeadEvent.from_row(f"L{i}", row).model_dump_json().encode())
        for i, row in enumerate(rows)
    ]
    return [raws[i : i + size] for i in range(0, len(raws), size)]


def test_a_hung_redis_is_waited_on_once_and_catches_up_when_it_answers(valkey: LocalService) -> None:
    snapshot: ModelSnapshot = fit_model(generate_leads(600, random_state=4).X, config=StrategyConfig(), k=3)[1]
    settings = Settings(redis_url=valkey.url)  # type: ignore[arg-type]
    work = batches(2 + BATCHES_WHILE_HUNG, 25)

    async def main() -> tuple[list[float], dict[str, int]]:
        client = redis_client(settings)
        health = RedisHealth(client, timeout=TIMEOUT, probe_seconds=0.1)
        holder = ModelHolder(InMemoryModelStore(), poll_seconds=3600)
        holder.model = ServingModel(snapshot)
        router = BatchRouter(settings, holder, RedisPreviousSegments(client, health), Outbox())
        await router.route(work[0], lambda: False)
        os.kill(valkey.process.pid, signal.SIGSTOP)
        took = []
        for batch in work[1:-1]:
            started = time.monotonic()
            await router.route(batch, lambda: False)
            took.append(time.monotonic() - started)
        assert not health.up
        os.kill(valkey.process.pid, signal.SIGCONT)
        await eventually(lambda: health.up, "the probe seeing Redis answer again", 30, 0.05)
        await router.route(work[-1], lambda: False)  # its writes go with the ones queued meanwhile
        await client.aclose()
        stored = stored_previous_segments(valkey.url, "segmenter")
        return took, stored

    took, stored = asyncio.run(main())
    # The first batch after the hang waits out the bound once (not the client's 5 s socket timeout, twice);
    # every later one is routed without waiting on Redis at all.
    assert TIMEOUT <= took[0] < TIMEOUT + 1.5, took
    assert all(t < TIMEOUT for t in took[1:]), took
    assert set(stored) == {f"L{i}" for i in range(sum(map(len, work)))}
