"""The service on a three-node Valkey cluster (`redis+cluster://`): the model store and its publish script, controls,
history and notices; previous segments spread over every node; a real worker routing leads."""

import asyncio
import os
from collections import Counter
from pathlib import Path

import pytest
import redis

from models.settings import Settings
from streams.exceptions import PinnedError, StaleModelError
from streams.previous import CLUSTER_SHARDS, RedisPreviousSegments
from streams.redis_health import RedisHealth
from streams.store import Controls, RedisClient, RedisModelStore, redis_client
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
from tests.integration.traffic import wait_for
from tests.services import sync_client, unique


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
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(count for _, count in await client.pubsub_numsub(channel, target_nodes="all")):
        assert asyncio.get_running_loop().time() < deadline, f"no subscriber on {channel} within {timeout}s"
        await asyncio.sleep(0.01)


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
