"""Previous segments in a real Redis-protocol server: the batch script, plain commands where scripts are refused,
and the retention, on a single server and on a three-node cluster."""

import asyncio
import logging
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis

from models.settings import Settings
from streams.clients.redis_client import redis_client
from streams.clients.redis_health import RedisHealth
from streams.routing.previous import RedisPreviousSegments
from tests.services import stored_previous_segments

# Ids that JSON escapes or that are long, and more leads than one chunk of the script.
ODD_IDS = ["plain", "nul\x00inside", 'quote"and\\slash', "new\nline", "é中🙂", "L" * 128]
TIMEOUT = 10.0  # seconds a Redis call may take before the client counts Redis down
SEGMENTS = {lead: i % 5 for i, lead in enumerate(ODD_IDS + [f"K{i}" for i in range(2_500)])}


async def write_then_read(url: str, prefix: str) -> tuple[dict[str, int], dict[str, str]]:
    """Segments written by one instance, read back by another (as after a restart), and the raw hash."""
    writer, reader = (aioredis.from_url(url, decode_responses=True) for _ in range(2))
    try:
        await RedisPreviousSegments(writer, RedisHealth(writer, timeout=TIMEOUT), prefix).set_many(SEGMENTS)
        found = await RedisPreviousSegments(reader, RedisHealth(reader, timeout=TIMEOUT), prefix).get_many(
            [*SEGMENTS, "never-seen"]
        )
        return found, {lead: str(segment) for lead, segment in stored_previous_segments(url, prefix).items()}
    finally:
        await writer.aclose()
        await reader.aclose()


def as_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


def test_segments_written_in_one_batch_are_read_back_exactly(redis_url: str) -> None:
    found, stored = asyncio.run(write_then_read(redis_url, f"test-{uuid.uuid4().hex}"))
    assert found == SEGMENTS
    assert stored == {lead: str(segment) for lead, segment in SEGMENTS.items()}


def test_a_user_refused_scripts_gets_the_same_answers(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    user, password = f"noscript-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex

    async def run() -> tuple[dict[str, int], dict[str, str]]:
        admin = aioredis.from_url(redis_url)
        await admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", "-@scripting")
        try:
            return await write_then_read(as_user(redis_url, user, password), f"test-{uuid.uuid4().hex}")
        finally:
            await admin.execute_command("ACL", "DELUSER", user)
            await admin.aclose()

    with caplog.at_level(logging.WARNING, logger="streams.routing.previous"):
        found, stored = asyncio.run(run())
    assert found == SEGMENTS
    assert stored == {lead: str(segment) for lead, segment in SEGMENTS.items()}
    refusals = [r.getMessage() for r in caplog.records if "refused the previous-segments script" in r.getMessage()]
    assert len(refusals) == 2 and all("NOPERM" in message or "permission" in message for message in refusals), refusals


@pytest.fixture(params=["server", "cluster"])
def any_redis(request: pytest.FixtureRequest) -> str:
    """A single server's URL, then a three-node cluster's."""
    return str(request.getfixturevalue("redis_url" if request.param == "server" else "valkey_cluster"))


def test_previous_segments_past_retention_are_gone_and_leads_routed_again_are_kept(any_redis: str) -> None:
    retention, prefix = 2, f"test-{uuid.uuid4().hex}"
    forgotten = {f"F{i}": i % 5 for i in range(1_500)}
    kept = {f"K{i}": i % 3 for i in range(1_500)}

    async def run() -> tuple[list[float], dict[str, int]]:
        client = redis_client(Settings(redis_url=any_redis))  # type: ignore[arg-type]
        previous = RedisPreviousSegments(
            client, RedisHealth(client, timeout=TIMEOUT), prefix, retention_seconds=retention
        )
        written = time.time()
        await previous.set_many(forgotten | kept)
        found_at = []
        while set(stored_previous_segments(any_redis, prefix)) != set(kept):
            found = await previous.get_many([*forgotten, *kept])
            elapsed = time.time() - written
            assert elapsed < 2 * retention + 10, "the forgotten leads are still in Redis"
            if elapsed < retention:  # within the retention of every write: all found, and exactly
                assert found == forgotten | kept
                found_at.append(elapsed)
            await previous.set_many(kept)  # routed again, as a worker would
        after = await previous.get_many([*forgotten, *kept])
        await client.aclose()
        return found_at, after

    found_at, found_after = asyncio.run(run())
    assert found_at  # read at least once within the retention
    assert found_after == kept
