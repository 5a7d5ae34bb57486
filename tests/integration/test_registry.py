"""The model registry in Kafka (issue 20, item 4): every model version and the controls also in a compacted topic,
and Redis refilled from it when it loses them. The Redis of these tests is their own (`own_redis`): they flush it."""

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from models.settings import Settings
from streams.clients import ensure_topics, redis_client, tagged_key
from streams.exceptions import TopicMismatchError
from streams.model_plane.mirrored import MirroredModelStore
from streams.model_plane.store import Controls, StoredControls
from tests.integration.apache import RedisNode
from tests.integration.harness import Worker, drain, model_file, publish, settings_of, worker_env
from tests.integration.test_control import SEED_LEADS, command, refit_env, served_versions
from tests.populations import with_a_sixth_group
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


def test_a_promoted_refit_reaches_the_registry_topic(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> None:
    env = refit_env(kafka_bootstrap, redis_url, tmp_path, with_a_sixth_group(SEED_LEADS, seed=33))
    with Worker(env, tmp_path):
        refit = command(env, command="refit", timeout=300)
    assert refit.type == "promoted", refit
    stored = registry(env)
    assert sorted(stored) == ["model:1", f"model:{refit.version}"]
    assert json.loads(stored[f"model:{refit.version}"])["made_by"] == "refit"


def test_a_registry_topic_made_without_compaction_stops_the_start_with_the_command_that_fixes_it(
    kafka_bootstrap: str, redis_url: str
) -> None:
    env = os.environ | worker_env(kafka_bootstrap, redis_url)
    settings = settings_of(env)

    async def made_by_hand() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(settings.registry_topic, 1, 1, topic_configs={"cleanup.policy": "delete"})]
            )
        finally:
            await admin.close()

    asyncio.run(made_by_hand())
    with pytest.raises(TopicMismatchError, match="cleanup.policy=delete, it needs compact: kafka-configs.sh --alter"):
        asyncio.run(ensure_topics(settings))


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


def test_a_redis_restarted_empty_gets_the_models_back_from_a_running_worker(
    kafka_bootstrap: str, own_redis: RedisNode, tmp_path: Path
) -> None:
    env = two_models(kafka_bootstrap, own_redis.url, tmp_path)
    with Worker(env, tmp_path) as worker:
        own_redis.stop()
        shutil.rmtree(own_redis.root / "data")  # restarted without its data, as a new instance after a failover
        (own_redis.root / "data").mkdir()
        own_redis.start()
        wait_for(lambda: plain(env).get(key(env, "model", "current")) == "2", 10, "the pointer back within 10 s")
        assert plain(env).lrange(key(env, "model", "history"), 0, -1) == ["1", "2"]
        assert served_versions(env, 40, first=1) == {2}
        assert "put back from" in worker.log()


def test_publish_into_an_empty_redis_puts_the_registry_back_first_and_refuses_an_older_version(
    kafka_bootstrap: str, own_redis: RedisNode, tmp_path: Path
) -> None:
    env = two_models(kafka_bootstrap, own_redis.url, tmp_path)
    store = plain(env)
    store.flushall()  # no worker running: nothing puts the models back but the publish itself
    older = subprocess.run(
        [sys.executable, "-m", "segmenter", "publish", str(model_file(tmp_path, k=3, version=1, seed=2)[0])],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert older.returncode != 0 and "not newer than the current 2" in older.stderr, older.stderr
    assert store.get(key(env, "model", "current")) == "2"
    assert store.lrange(key(env, "model", "history"), 0, -1) == ["1", "2"]


@pytest.mark.parametrize("server", ["redis_url", "valkey_cluster"])
def test_restores_racing_each_other_and_a_publish_never_move_the_pointer_back(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    redis_url = request.getfixturevalue(server)
    _, base = model_file(tmp_path, k=4, version=1)
    snapshots = {v: base.model_copy(update={"version": v}) for v in range(1, 5)}
    topic = {v: s.model_dump_json().encode() for v, s in snapshots.items() if v <= 3}  # the registry: 1..3
    pinned = StoredControls(Controls(pinned=None, k=4), revision=100)
    rng = random.Random(3)

    async def race(prefix: str) -> tuple[str | None, list[str], dict[str, str]]:
        client = redis_client(Settings(redis_url=redis_url))  # type: ignore[arg-type]
        written: list[bytes] = []

        async def write(key: bytes, value: bytes) -> None:
            written.append(key)

        store = MirroredModelStore(client, prefix, write)
        try:  # Redis has lost it all; four workers put back 1..3 while 4 is published, in a random order
            steps = [store.restore(topic, 3, pinned) for _ in range(4)] + [store.publish(snapshots[4])]
            rng.shuffle(steps)
            await asyncio.gather(*steps)
            assert written == [b"model:4"]  # the publish is written to the topic, the restores are not
            keys = [tagged_key(prefix, "model", part) for part in ("current", "history")]
            return (
                await client.get(keys[0]),
                await client.lrange(keys[1], 0, -1),
                await client.hgetall(tagged_key(prefix, "controls")),
            )
        finally:
            await client.aclose()

    for round_ in range(20):
        current, history, controls = asyncio.run(race(f"race-{os.getpid()}-{round_}-{time.time_ns()}"))
        assert current == "4"  # the publish is never undone, whatever came first
        assert history == ["1", "2", "3", "4"]  # in version order, also when the publish came first
        assert controls == {"k": "4", "revision": "100"}


def test_many_versions_are_put_back_a_few_per_call_and_the_history_keeps_the_newest_thousand(
    redis_url: str, tmp_path: Path
) -> None:
    _, base = model_file(tmp_path, k=3, version=1)
    topic = {v: base.model_copy(update={"version": v}).model_dump_json().encode() for v in range(1, 1_131)}

    async def run(prefix: str) -> tuple[int, list[str], int]:
        client = redis_client(Settings(redis_url=redis_url))  # type: ignore[arg-type]

        async def write(key: bytes, value: bytes) -> None:
            raise AssertionError("a restore writes nothing to the topic")

        try:
            await MirroredModelStore(client, prefix, write).restore(topic, max(topic), None)
            history = await client.lrange(tagged_key(prefix, "model", "history"), 0, -1)
            stored = sum([await client.exists(tagged_key(prefix, "model", v)) for v in topic])
            return int(await client.get(tagged_key(prefix, "model", "current"))), history, stored
        finally:
            await client.aclose()

    current, history, stored = asyncio.run(run(f"many-{os.getpid()}-{time.time_ns()}"))
    assert (current, stored) == (1_130, 1_130)
    assert history == [str(v) for v in range(131, 1_131)]
