"""The model registry in Kafka (issue 20, item 4): every model version and the controls also in a compacted topic,
and Redis refilled from it when it loses them. The Redis of these tests is their own (`own_redis`): they flush it."""

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from models.events import SegmentAssigned
from tests.integration.apache import RedisNode
from tests.integration.figures import Figures
from tests.integration.harness import Worker, drain, leads, model_file, publish, worker_env
from tests.integration.test_control import command, served_versions
from tests.integration.traffic import Probe, Stream
from tests.waiting import wait_for

GAP_LIMIT_SECONDS = 2.0
RESTORE_LIMIT_SECONDS = 10.0


def two_models(kafka: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """A worker's settings, with version 1 (K=5) then version 2 (K=4) published by `segmenter publish`."""
    env = os.environ | worker_env(kafka, redis_url)
    publish(env, model_file(tmp_path, k=5, version=1)[0])
    publish(env, model_file(tmp_path, k=4, version=2)[0])
    return env


def plain(env: dict[str, str]) -> "redis.Redis[str]":
    return redis.Redis.from_url(env["SEGMENTER_REDIS_URL"], decode_responses=True)


def key(env: dict[str, str], *parts: str) -> str:
    return ":".join([f"{{{env['SEGMENTER_REDIS_KEY_PREFIX']}}}", *parts])


def registry(env: dict[str, str]) -> dict[str, bytes]:
    """The registry topic's last value per key, as a reader after compaction sees it."""
    return {o.key.decode(): o.value for o in drain(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_REGISTRY_TOPIC"])}


def cleanup_policy(kafka: str, topic: str) -> str:
    async def ask() -> str:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        try:
            (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            (resource,) = response.to_object()["resources"]
            return next(e["config_value"] for e in resource["config_entries"] if e["config_names"] == "cleanup.policy")
        finally:
            await admin.close()

    return asyncio.run(ask())


def test_publish_rollback_pin_and_set_k_reach_the_compacted_registry_topic(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = two_models(kafka_bootstrap, redis_url, tmp_path)
    with Worker(env, tmp_path):
        back = command(env, command="rollback")
        pinned = command(env, command="pin", version=2)
        k_set = command(env, command="set_k", k=3)
    assert (back.type, pinned.type, k_set.type) == ("rolled_back", "pinned", "k_set")
    stored = registry(env)
    versions = sorted(int(name.removeprefix("model:")) for name in stored if name.startswith("model:"))
    assert versions == [1, 2, back.version, pinned.version]
    assert json.loads(stored[f"model:{pinned.version}"])["restored_from"] == 2
    controls = json.loads(stored["controls"])
    assert (controls["pinned"], controls["k"]) == (pinned.version, 3)
    assert int(plain(env).hget(key(env, "controls"), "revision") or 0) == controls["revision"]
    assert cleanup_policy(kafka_bootstrap, env["SEGMENTER_REGISTRY_TOPIC"]) == "compact"


def test_a_worker_started_against_an_empty_redis_serves_the_registry_current_model(
    kafka_bootstrap: str, own_redis: RedisNode, tmp_path: Path
) -> None:
    env = two_models(kafka_bootstrap, own_redis.url, tmp_path)
    store = plain(env)
    store.hset(key(env, "controls"), mapping={"k": 3, "revision": int(time.time() * 1000)})
    registry(env)  # nothing is written to the topic for the controls set in Redis alone: the worker copies them
    store.flushall()
    assert store.get(key(env, "model", "current")) is None
    with Worker(env, tmp_path) as worker:
        assert worker.logged_at("serving model version 2") is not None
        assert served_versions(env, 40, first=1) == {2}
        assert store.get(key(env, "model", "current")) == "2"
        assert store.lrange(key(env, "model", "history"), 0, -1) == ["1", "2"]
        assert store.exists(key(env, "model", "1"))
        assert store.hget(key(env, "controls"), "k") is None  # flushed before any worker copied them: gone


@pytest.mark.faults
def test_flushall_under_load_keeps_outputs_flowing_and_puts_the_pointer_back_without_going_back(
    kafka_bootstrap: str, own_redis: RedisNode, tmp_path: Path, figures: Figures
) -> None:
    n, rate = 20_000, 1000.0
    env = two_models(kafka_bootstrap, own_redis.url, tmp_path)
    group, topic, out = env["SEGMENTER_APP_ID"], env["SEGMENTER_LEADS_TOPIC"], env["SEGMENTER_SEGMENTS_TOPIC"]
    workers = [Worker(env, tmp_path).launch() for _ in range(2)]
    for worker in workers:
        worker.wait_ready()
    assert command(env, command="set_k", k=4).type == "k_set"
    store = plain(env)
    table, records = leads(n, seed=5)
    with Probe(kafka_bootstrap) as probe:
        stream = Stream(kafka_bootstrap, topic, records, rate=rate).start()
        wait_for(lambda: sum(probe.end_offsets(out).values()) > n // 4, 60, "a quarter of the outputs")
        store.flushall()
        flushed = time.time()
        wait_for(lambda: store.get(key(env, "model", "current")) is not None, 30, "the pointer back")
        restored = time.time() - flushed
        stream.join()
        wait_for(lambda: sum(probe.lag(group, topic).values()) == 0, 120, "consumer lag back to 0")
    for worker in workers:
        worker.stop()
    outputs = drain(kafka_bootstrap, out)
    events = [SegmentAssigned.model_validate_json(o.value) for o in outputs]
    stamps = sorted(o.timestamp_ms / 1000 for o in outputs)
    gap = max(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    figures.record("registry_flushall", leads=n, restored_s=round(restored, 3), worst_output_gap_s=round(gap, 3))
    assert {e.lead_id for e in events} == set(table.ids)
    assert {e.model_version for e in events} == {2}  # never an older version
    assert store.get(key(env, "model", "current")) == "2"
    assert store.lrange(key(env, "model", "history"), 0, -1) == ["1", "2"]
    assert store.hget(key(env, "controls"), "k") == "4"
    assert restored <= RESTORE_LIMIT_SECONDS
    assert gap <= GAP_LIMIT_SECONDS
    assert any("put back from" in w.log() for w in workers)
