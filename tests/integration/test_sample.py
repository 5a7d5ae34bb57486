"""The shared refit sample on a real Redis-protocol server: one sorted set that every writer feeds, bounded,
recency-weighted, seeded once, still there after a restart, fed without scripts where they are refused, and
waiting (bounded) in the worker while Redis is down."""

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest
import redis

from models.control import StatusReport
from models.settings import Settings
from segmentation.features import FEATURES
from segmenter.control_cli import ask
from streams.clients.redis_client import redis_client, tagged_key
from streams.clients.redis_health import RedisHealth
from streams.local.services import start_redis
from streams.model_plane.sample import SharedSample
from tests.clock import Clock
from tests.integration.harness import Worker, leads, model_file, produce, publish, settings_of, worker_env
from tests.services import unique
from tests.waiting import eventually, wait_for

HOUR = 3600.0


def settings(redis_url: str, prefix: str, capacity: int = 2_000, half_life: float = HOUR) -> Settings:
    return Settings(
        redis_url=redis_url,
        redis_key_prefix=prefix,
        refit_sample_size=capacity,
        refit_sample_half_life_seconds=half_life,
        redis_timeout_seconds=5,
    )


def with_samples(
    s: Settings, count: int, body: Callable[[list[SharedSample], Clock], Awaitable[None]], **kwargs: object
) -> None:
    """Run `body` with `count` writers of one sample (each its own client, as separate workers have)."""

    async def main() -> None:
        clock = Clock(1.8e9)
        clients = [redis_client(s) for _ in range(count)]
        samples = [
            SharedSample(c, RedisHealth(c, timeout=s.redis_timeout_seconds), s, clock=clock, random_state=i, **kwargs)  # type: ignore[arg-type]
            for i, c in enumerate(clients)
        ]
        try:
            await body(samples, clock)
        finally:
            for c in clients:
                await c.aclose()

    asyncio.run(main())


def batch(n: int, value: float) -> np.ndarray:
    return np.full((n, len(FEATURES)), value)


async def two_writers_for_eight_hours(samples: list[SharedSample], clock: Clock) -> None:
    """Two writers feed one sample 5,000 leads an hour each for 8 hours: it stays at its size, holds both
    writers' leads, and favours recent ones as the half-life (an hour) says."""
    first, second = samples
    for hour in range(8):  # column 0 holds the hour (and .5 for the second writer)
        first.add(batch(5_000, hour))
        second.add(batch(5_000, hour + 0.5))
        await first.flush()
        await second.flush()
        clock.now += HOUR
    rows = await second.rows()
    assert len(rows) == first.size == second.size == 2_000  # bounded, and both see it all
    assert set(np.unique(rows[:, 0] % 1)) == {0.0, 0.5}  # both writers' leads in it
    share = np.bincount(np.floor(rows[:, 0]).astype(int), minlength=8) / len(rows)
    # A-ES with weights 2^hour: the last hour holds about half, the one before a quarter, ...
    assert share[7] > 0.4 and 0.15 < share[6] < 0.35 and share[:4].sum() < 0.1, share


def test_two_writers_share_one_bounded_sample_that_favours_recent_leads(redis_url: str) -> None:
    with_samples(settings(redis_url, unique("sample"), capacity=2_000), 2, two_writers_for_eight_hours)


def test_the_sample_works_on_a_cluster(valkey_cluster: str) -> None:
    with_samples(settings(valkey_cluster, unique("sample"), capacity=2_000), 2, two_writers_for_eight_hours)


def test_where_scripts_are_refused_plain_commands_keep_the_same_sample(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    user, password = unique("no-scripts"), unique("pw")
    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", "-@scripting")
    parts = urlsplit(redis_url)
    url = urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))

    async def body(samples: list[SharedSample], clock: Clock) -> None:
        await two_writers_for_eight_hours(samples, clock)
        assert all(sample._health.up for sample in samples)  # a refused script is not an outage

    try:
        with caplog.at_level(logging.WARNING, logger="streams.model_plane.sample"):
            with_samples(settings(url, unique("sample"), capacity=2_000), 2, body)
    finally:
        admin.execute_command("ACL", "DELUSER", user)
        admin.close()
    refusals = [r.getMessage() for r in caplog.records if "refused the refit sample's script" in r.getMessage()]
    assert len(refusals) == 2, refusals  # once per writer


def test_the_sample_keeps_its_rows_exactly_and_survives_new_clients(redis_url: str) -> None:
    s = settings(redis_url, unique("sample"), capacity=1_000)
    X = np.random.default_rng(1).uniform(0, 1000, (300, len(FEATURES)))

    async def write(samples: list[SharedSample], clock: Clock) -> None:
        samples[0].add(X)
        await samples[0].flush()
        assert samples[0].size == 300

    async def read(samples: list[SharedSample], clock: Clock) -> None:
        rows = await samples[0].rows()  # a new worker reads what an earlier one wrote
        order = np.lexsort(rows.T[::-1]), np.lexsort(X.T[::-1])
        np.testing.assert_allclose(rows[order[0]], X[order[1]], rtol=1e-6)  # float32 in Redis

    with_samples(s, 1, write)
    with_samples(s, 1, read)
    plain = redis.Redis.from_url(redis_url)
    try:  # each member's score is the key packed at its start
        for member, score in plain.zrange(tagged_key(s.redis_key_prefix, "sample"), 0, -1, withscores=True):
            assert np.frombuffer(member[:8], "<f8")[0] == score
            assert len(member) == 8 + 4 * len(FEATURES)
    finally:
        plain.close()


def test_the_seed_fills_an_empty_sample_only(redis_url: str) -> None:
    s = settings(redis_url, unique("sample"), capacity=1_000)

    async def seeded(samples: list[SharedSample], clock: Clock) -> None:
        await samples[0].flush()
        assert samples[0].size == 1_000  # the seed's best 1,000 of 1,500
        assert set(np.unique((await samples[0].rows())[:, 0])) == {7.0}

    async def not_again(samples: list[SharedSample], clock: Clock) -> None:
        await samples[0].flush()
        assert set(np.unique((await samples[0].rows())[:, 0])) == {7.0}  # not the second seed's 9s

    with_samples(s, 1, seeded, seed=batch(1_500, 7))
    with_samples(s, 1, not_again, seed=batch(500, 9))


def test_a_refit_reading_while_the_seed_is_sent_gets_all_of_it(redis_url: str) -> None:
    """The seed goes in chunks; a refit asked for at start (its read) must not see only the first of them."""
    s = settings(redis_url, unique("sample"), capacity=20_000)

    async def read_during_start(samples: list[SharedSample], clock: Clock) -> None:
        starting = asyncio.ensure_future(samples[0].flush())  # what the worker's start does
        await asyncio.sleep(0)  # the start's flush is under way when the refit reads
        assert len(await samples[0].rows()) == 12_000
        await starting

    with_samples(s, 1, read_during_start, seed=batch(12_000, 7))


def test_once_full_only_the_few_leads_that_can_enter_are_sent(redis_url: str) -> None:
    s = settings(redis_url, unique("sample"), capacity=1_000)

    async def body(samples: list[SharedSample], clock: Clock) -> None:
        sample, sent = samples[0], []
        for minute in range(6 * 60):  # 6 hours, 1,000 leads a minute; column 0 holds the minute
            sample.add(batch(1_000, minute))
            sent.append(len(sample._held))
            await sample.flush()
            clock.now += 60
        # In steady state a lead can enter with probability capacity·ln2 / (half-life · rate) = 1.2 %.
        assert sum(sent[-60:]) < 0.03 * 60 * 1_000, sent[-60:]
        rows = await sample.rows()
        assert len(rows) == 1_000 and 0.4 < (rows[:, 0] >= 5 * 60).mean() < 0.6  # the last hour: about half

    with_samples(s, 1, body)


def test_a_sample_written_with_a_shorter_half_life_is_started_afresh(redis_url: str) -> None:
    prefix = unique("sample")

    async def short(samples: list[SharedSample], clock: Clock) -> None:
        samples[0].add(batch(500, 1))
        await samples[0].flush()

    async def longer(samples: list[SharedSample], clock: Clock) -> None:
        samples[0].add(batch(100, 2))
        await samples[0].flush()
        assert set(np.unique((await samples[0].rows())[:, 0])) == {2.0}

    with_samples(settings(redis_url, prefix, half_life=60), 1, short)
    with_samples(settings(redis_url, prefix, half_life=HOUR), 1, longer)


def test_a_restarted_worker_refits_on_the_sample_its_predecessor_filled(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = os.environ | worker_env(kafka_bootstrap, redis_url, SEGMENTER_REFIT_MIN_LEADS="1000")
    publish(env, model_file(tmp_path, k=5, version=1)[0])
    plain = redis.Redis.from_url(redis_url)
    key = tagged_key(env["SEGMENTER_REDIS_KEY_PREFIX"], "sample")
    try:
        with Worker(env, tmp_path):
            produce(kafka_bootstrap, env["SEGMENTER_LEADS_TOPIC"], leads(1_500, seed=7)[1])
            wait_for(lambda: plain.zcard(key) == 1_500, 60, "1,500 leads in the shared sample")
        with Worker(env, tmp_path):
            status = asyncio.run(ask(settings_of(env), {"command": "status"}, 30))
            assert status is not None and isinstance(status.status, StatusReport)
            assert status.status.sampled_leads == 1_500
            refit = asyncio.run(ask(settings_of(env), {"command": "refit"}, 300))
            assert refit is not None and refit.type in ("promoted", "rejected"), refit
            assert refit.gate is not None  # judged: it had the 1,500 leads (too few would be refused unjudged)
    finally:
        plain.close()


def test_while_redis_is_down_the_best_leads_wait_here_and_go_when_it_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis(tmp_path / "before")
    s = settings(server.url, unique("sample"), capacity=1_000)

    async def main() -> None:
        nonlocal server
        client = redis_client(s)
        health = RedisHealth(client, timeout=1, probe_seconds=0.2)
        sample = SharedSample(client, health, s, clock=Clock(1.8e9), random_state=0)
        try:
            server.stop()
            for _ in range(3):  # three sends fail: what is held stays at the best 1,000
                for _ in range(5):
                    sample.add(batch(1_000, 1))
                assert await sample.flush() == 0 and len(sample._held) == 1_000
            assert not health.up
            server = start_redis(tmp_path / "after", port=server.port)
            await eventually(lambda: health.up, "the health probe noticing Redis back (every 0.2 s)", 30, 0.05)
            assert await sample.flush() == 1_000 and sample.size == 1_000 and len(sample._held) == 0
        finally:
            await client.aclose()

    try:
        with caplog.at_level(logging.INFO, logger="streams.model_plane.sample"):
            asyncio.run(main())
    finally:
        server.stop()
    said = [r.getMessage() for r in caplog.records if r.name == "streams.model_plane.sample"]
    assert len(said) == 2 and "held here (at most 1000) until it answers" in said[0], said  # once per outage
    assert "answers again" in said[1], said
