"""The Redis model store and `segmenter publish` against a real Redis-protocol server."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from models.settings import Settings
from models.snapshot import ModelSnapshot
from streams.clients.redis_client import redis_client
from streams.exceptions import StaleModelError
from streams.model_plane.store import RedisModelStore
from tests.integration.harness import model_file, partitions, worker_env
from tests.waiting import eventually


def store_for(redis_url: str, prefix: str) -> tuple[aioredis.Redis, RedisModelStore]:
    client = redis_client(Settings(redis_url=redis_url))  # type: ignore[arg-type]
    return client, RedisModelStore(client, prefix)


async def subscribed(client: aioredis.Redis, channel: str, timeout: float = 10) -> None:
    """Wait until `channel` has a subscriber on the server."""

    async def subscribed() -> bool:
        return bool((await client.pubsub_numsub(channel))[0][1] >= 1)

    await eventually(subscribed, f"a subscriber on {channel}", timeout)


def test_publish_moves_the_pointer_forward_only_and_keeps_versions_immutable(redis_url: str, tmp_path: Path) -> None:
    _, first = model_file(tmp_path, k=5, version=10)
    _, older = model_file(tmp_path, k=4, version=9, seed=1)

    async def run() -> list[object]:
        client, store = store_for(redis_url, worker_env("x", redis_url)["SEGMENTER_REDIS_KEY_PREFIX"])
        results: list[object] = []
        try:
            results.append(await store.current_version())
            await store.publish(first)
            results.append(await store.current_version())
            for stale in (older, first):
                with pytest.raises(StaleModelError) as refused:
                    await store.publish(stale)
                results.append(str(refused.value))
            results.append(await store.load(10))
        finally:
            await client.aclose()
        return results

    before, after, older_refused, same_refused, loaded = asyncio.run(run())
    assert before is None and after == 10
    assert older_refused == "model version 9 is not newer than the current 10"
    assert same_refused == "model version 10 is not newer than the current 10"
    assert isinstance(loaded, ModelSnapshot) and loaded == first


def test_workers_hear_of_a_publish_on_the_channel(redis_url: str, tmp_path: Path) -> None:
    _, snapshot = model_file(tmp_path, k=5, version=3)
    prefix = worker_env("x", redis_url)["SEGMENTER_REDIS_KEY_PREFIX"]

    async def run() -> int:
        client, store = store_for(redis_url, prefix)
        notices = store.notices()
        try:
            listening = asyncio.ensure_future(anext(notices))
            await subscribed(client, store.channel)
            await store.publish(snapshot)
            return await asyncio.wait_for(listening, timeout=5)
        finally:
            await notices.aclose()
            await client.aclose()

    assert asyncio.run(run()) == 3


def test_publish_command_refuses_an_older_model_in_one_line(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = os.environ | worker_env(kafka_bootstrap, redis_url)
    newer, _ = model_file(tmp_path, k=5, version=5)
    older, _ = model_file(tmp_path, k=5, version=4)

    def publish(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "segmenter", "publish", str(path)], env=env, capture_output=True, text=True
        )

    first = publish(newer)  # before any worker: publish creates the topics itself, never the broker
    assert first.returncode == 0, first.stderr
    assert partitions(kafka_bootstrap, [env["SEGMENTER_MODELS_TOPIC"], env["SEGMENTER_LEADS_TOPIC"]]) == {
        env["SEGMENTER_MODELS_TOPIC"]: 1,
        env["SEGMENTER_LEADS_TOPIC"]: 2,
    }
    second = publish(older)
    assert second.returncode == 2
    assert second.stderr.strip() == "error: model version 4 is not newer than the current 5"
