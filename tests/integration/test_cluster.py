"""The service on a three-node Valkey cluster (`redis+cluster://`): the model store and its publish script, controls,
history and notices; previous segments spread over every node, and a hung node waited on once; a real worker
routing leads."""

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from models.settings import Settings
from streams.clients.redis_client import RedisClient, redis_client
from streams.clients.redis_health import RedisHealth
from streams.exceptions import PinnedError, StaleModelError
from streams.model_plane.store import Controls, RedisModelStore
from streams.routing.previous import CLUSTER_SHARDS, RedisPreviousSegments
from tests.cluster import start_cluster
from tests.integration.harness import (
    Worker,
    consume,
    leads,
    model_file,
    previous_segments,
    produce,
    publish,
    worker_env,
)
from tests.services import stored_previous_segments, sync_client, unique
from tests.waiting import eventually, wait_for


def test_the_model_store_works_on_a_cluster(valkey_cluster: str, tmp_path: Path) -> None:
    snapshots = {version: model_file(tmp_path, k=4, version=version, seed=version)[1] for version in (1, 2, 3, 4)}

    async def run() -> None:
        client = redis_client(Settings(redis_url=valkey_cluster))  # type: ignore[arg-type]
        store = RedisModelStore(client, unique("cluster"))
        notices = store.notices()
        try:
            listening = asyncio.ensure_future(anext(notices))
            await _subscribed(client, store.channel)
            await store.publish(snapshots[1])
            assert await asyncio.wait_for(listening, 10) == 1
            await store.publish(snapshots[2])
            with pytest.raises(StaleModelError):
                await store.publish(snapshots[1])
            await store.set_controls(Controls(pinned=2, k=4))
            assert await store.controls() == Controls(pinned=2, k=4)
            with pytest.raises(PinnedError):
                await store.publish(snapshots[3])
            await store.publish(snapshots[3], despite_pin=True)
            await store.set_controls(Controls())
            assert await store.controls() == Controls()
            await store.publish(snapshots[4])
            assert await store.current_version() == 4
            assert await store.load(2) == snapshots[2]
            assert await store.history() == [1, 2, 3, 4]
        finally:
            await notices.aclose()
            await client.aclose()

    asyncio.run(run())


async def _subscribed(client: RedisClient, channel: str, timeout: float = 10) -> None:
    """Wait until some node of the cluster has a subscriber on `channel`."""

    async def subscribed() -> bool:
        return any(count for _, count in await client.pubsub_numsub(channel, target_nodes="all"))

    await eventually(subscribed, f"a subscriber on {channel}", timeout)


def test_previous_segments_spread_over_every_node(valkey_cluster: str) -> None:
    prefix, segments = unique("cluster"), {f"lead-{i:06d}": i % 7 for i in range(30_000)}

    async def run() -> dict[str, int]:
        client = redis_client(Settings(redis_url=valkey_cluster))  # type: ignore[arg-type]
        previous = RedisPreviousSegments(client, RedisHealth(client, timeout=10), prefix)
        for start in range(0, len(segments), 1_000):  # in batches, as a worker writes them
            await previous.set_many(dict(list(segments.items())[start : start + 1_000]))
        found = await previous.get_many([*segments, "never-seen"])
        await client.aclose()
        return found

    assert asyncio.run(run()) == segments
    cluster = sync_client(valkey_cluster)
    assert isinstance(cluster, redis.RedisCluster)
    hashes, leads_held = Counter[str](), Counter[str]()
    for node in cluster.get_primaries():
        for key in cluster.scan_iter(match=f"{{{prefix}:previous:*", target_nodes=node):
            hashes[node.name] += 1
            leads_held[node.name] += int(cluster.hlen(key))
    cluster.close()
    assert list(hashes.values()) == [CLUSTER_SHARDS // 3] * 3, hashes  # each node a third of the slots, of the shards
    assert sum(leads_held.values()) == len(segments)
    assert all(0.3 < count / len(segments) < 0.37 for count in leads_held.values()), leads_held


def test_a_worker_routes_leads_with_a_cluster_url(kafka_bootstrap: str, valkey_cluster: str, tmp_path: Path) -> None:
    env = os.environ | worker_env(kafka_bootstrap, valkey_cluster)
    publish(env, model_file(tmp_path, k=5, version=1)[0])
    table, records = leads(2_000, seed=41)
    with Worker(env, tmp_path):
        produce(kafka_bootstrap, env["SEGMENTER_LEADS_TOPIC"], records)
        outputs = consume(kafka_bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"], len(records), timeout=120, settle=0)
        assigned = {event["lead_id"]: event["segment_id"] for event in (output.json() for output in outputs)}
        assert set(assigned) == set(table.ids)
        wait_for(lambda: previous_segments(env) == assigned, 30, "every lead's previous segment in the cluster")


def test_a_hung_node_is_waited_on_once_and_the_writes_queued_meanwhile_reach_it(tmp_path: Path) -> None:
    cluster, timeout, hung_for = start_cluster(tmp_path), 1.0, 3.0
    written: dict[str, int] = {}

    def batch(b: int) -> dict[str, int]:
        segments = {f"H{b}-{i}": (b + i) % 5 for i in range(200)}
        written.update(segments)
        return segments

    async def run() -> tuple[list[float], dict[str, int]]:
        client = redis_client(Settings(redis_url=cluster.url))  # type: ignore[arg-type]
        health = RedisHealth(client, timeout=timeout, probe_seconds=0.1)
        previous = RedisPreviousSegments(client, health, "hung")
        await previous.set_many(batch(0))
        os.kill(cluster.nodes[2].process.pid, signal.SIGSTOP)
        hung_at, took = time.monotonic(), []
        try:
            while time.monotonic() < hung_at + hung_for:  # batches all along, while the probe asks again and again
                started = time.monotonic()
                await previous.set_many(batch(len(took) + 1))
                took.append(time.monotonic() - started)
                await asyncio.sleep(0.01)
            assert not health.up
            found_meanwhile = await previous.get_many(list(written))  # from the worker's own recent writes
        finally:
            os.kill(cluster.nodes[2].process.pid, signal.SIGCONT)
        await eventually(lambda: health.up, "the probe seeing every node answer again", 30, 0.05)
        await previous.set_many(batch(len(took) + 1))  # its writes go with the ones queued meanwhile
        await client.aclose()
        return took, found_meanwhile

    try:
        took, found_meanwhile = asyncio.run(run())
        stored = stored_previous_segments(cluster.url, "hung")
    finally:
        cluster.stop()
    # The first batch after the hang waits out the bound once; later ones do not wait on Redis at all: the probe
    # asks every primary, not only one that answers.
    assert timeout <= took[0] < timeout + 1.5 and all(t < timeout / 2 for t in took[1:]), took
    assert found_meanwhile == dict(list(written.items())[:-200])  # all but the last batch, written after the hang
    assert stored == written
