"""Each lead's last segment, in a Redis hash: survives restarts and rebalances, shared by workers."""

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["PreviousSegments"]

log = logging.getLogger(__name__)

_RETRY_SECONDS = 5.0


class PreviousSegments:
    """`{prefix}:previous` maps lead_id to its last segment id.

    While Redis is down the worker keeps going: reads fall back to a bounded cache of its own
    recent writes, and writes queue up (bounded) to be flushed when Redis answers again.
    """

    def __init__(self, client: aioredis.Redis, prefix: str = "segmenter", cache_size: int = 200_000) -> None:
        self._client = client
        self._key = f"{prefix}:previous"
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._pending: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size
        self._down = False
        self._retry_at = 0.0

    async def get_many(self, lead_ids: Sequence[str]) -> dict[str, int]:
        unique = list(dict.fromkeys(lead_ids))
        if not unique:
            return {}
        if self._waiting():
            return self._cached(unique)
        try:
            values = await self._client.hmget(self._key, unique)
            self._up()
        except RedisError as error:
            self._outage(error)
            return self._cached(unique)
        found = {lead: int(v) for lead, v in zip(unique, values, strict=True) if v is not None}
        return {**found, **{lead: self._pending[lead] for lead in unique if lead in self._pending}}

    async def set_many(self, segments: Mapping[str, int]) -> None:
        for lead, segment in segments.items():
            self._remember(self._cache, lead, segment)
            self._remember(self._pending, lead, segment)
        await self.flush()

    async def flush(self) -> None:
        """Write queued segments to Redis; keeps them queued if Redis is down."""
        if not self._pending or self._waiting():
            return
        try:
            await self._client.hset(self._key, mapping=cast(Any, dict(self._pending)))
            self._pending.clear()
            self._up()
        except RedisError as error:
            self._outage(error)

    def _remember(self, store: OrderedDict[str, int], lead: str, segment: int) -> None:
        store[lead] = segment
        store.move_to_end(lead)
        if len(store) > self._cache_size:
            store.popitem(last=False)

    def _cached(self, leads: Sequence[str]) -> dict[str, int]:
        return {lead: self._cache[lead] for lead in leads if lead in self._cache}

    def _waiting(self) -> bool:
        """While Redis is down, it is tried again only every few seconds, not on every batch."""
        return self._down and time.monotonic() < self._retry_at

    def _outage(self, error: RedisError) -> None:
        if not self._down:
            log.warning("Redis unreachable (%s): previous segments served from the local cache", type(error).__name__)
        self._down = True
        self._retry_at = time.monotonic() + _RETRY_SECONDS

    def _up(self) -> None:
        if self._down:
            log.info("Redis reachable again: previous segments back in Redis")
        self._down = False
