"""Whether Redis answers, decided once per outage, so that a hung server costs one short wait, not one per call."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import MovedError, RedisClusterException, RedisError

from streams import metrics
from streams.exceptions import ServiceUnavailableError

__all__ = ["REDIS_ERRORS", "RedisHealth", "answer"]

log = logging.getLogger(__name__)

# What a call to Redis raises when Redis cannot serve it: a cluster client's own errors are not RedisErrors.
REDIS_ERRORS = (RedisError, RedisClusterException)

T = TypeVar("T")


class RedisHealth:
    """Every call of the worker's Redis users goes through `call`. A call that fails, or that takes longer than
    `timeout` (a hung server accepts connections and never answers), marks Redis down; while it is down, calls
    fail at once with `ServiceUnavailableError` without touching Redis, and a background task pings it every
    `probe_seconds` (each ping bounded by `timeout`) until it answers."""

    def __init__(
        self, client: aioredis.Redis | aioredis.RedisCluster, *, timeout: float, probe_seconds: float = 1.0
    ) -> None:
        self._client = client
        self._timeout = timeout
        self._probe_seconds = probe_seconds
        self._probe: asyncio.Task[None] | None = None
        self.up = True

    async def call(self, request: Callable[[], Awaitable[T]]) -> T:
        """The result of `request()`, or `ServiceUnavailableError` if Redis is down or fails to answer in time."""
        if not self.up:
            raise ServiceUnavailableError("Redis: down, waiting for it to answer again")
        try:
            return await asyncio.wait_for(request(), self._timeout)
        except (*REDIS_ERRORS, OSError, TimeoutError) as error:
            self._down(error)
            raise ServiceUnavailableError(f"Redis: {_describe(error, self._timeout)}") from error

    def _down(self, error: BaseException) -> None:
        if self.up:
            log.warning(
                "Redis unreachable (%s): not waiting on it until it answers again", _describe(error, self._timeout)
            )
        self.up = False
        metrics.REDIS_UP.set(0)
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._until_up())

    async def _until_up(self) -> None:
        while not self.up:
            await asyncio.sleep(self._probe_seconds)
            try:
                await asyncio.wait_for(self._ping(), self._timeout)
            except (*REDIS_ERRORS, OSError, TimeoutError):
                continue
            log.info("Redis reachable again")
            self.up = True
            metrics.REDIS_UP.set(1)

    async def _ping(self) -> None:
        """PING, on a cluster every primary's: one hung node is enough to hang the calls of a batch."""
        if isinstance(self._client, aioredis.RedisCluster):
            await self._client.ping(target_nodes=aioredis.RedisCluster.PRIMARIES)
        else:
            await self._client.ping()


def _describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, TimeoutError) and not str(error):
        return f"no answer within {timeout:g}s"
    if isinstance(error, MovedError):
        return f"MOVED {error}: the server is a Redis Cluster node, which needs a redis+cluster:// URL"
    return f"{type(error).__name__}: {error}"


async def answer(request: Callable[[], Awaitable[T]]) -> T:
    """The result of `request()`, a Redis error raised as `ServiceUnavailableError` (for one-off commands)."""
    try:
        return await request()
    except REDIS_ERRORS as error:
        raise ServiceUnavailableError(f"Redis: {error}") from error
