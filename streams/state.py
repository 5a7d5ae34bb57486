"""Each lead's last segment, in a Redis hash: survives restarts and rebalances, shared by workers."""

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

__all__ = ["PreviousSegments"]

log = logging.getLogger(__name__)

_RETRY_SECONDS = 5.0

# A batch's reads and writes each as one JSON argument: redis-py builds a command argument by argument in
# Python, which for a batch of a thousand leads cost more than the rest of its Redis work. Chunks of 1,000
# keep `unpack` within Lua's stack. Missing leads read as -1.
_GET = """
local leads, found = cjson.decode(ARGV[1]), {}
for i = 1, #leads, 1000 do
  local values = redis.call('HMGET', KEYS[1], unpack(leads, i, math.min(i + 999, #leads)))
  for j = 1, #values do found[#found + 1] = values[j] and tonumber(values[j]) or -1 end
end
return cjson.encode(found)
"""
_SET = """
local fields = cjson.decode(ARGV[1])
for i = 1, #fields, 1000 do
  redis.call('HSET', KEYS[1], unpack(fields, i, math.min(i + 999, #fields)))
end
return #fields / 2
"""


class PreviousSegments:
    """`{prefix}:previous` maps lead_id to its last segment id.

    While Redis is down the worker keeps going: reads fall back to a bounded cache of its own
    recent writes, and writes queue up (bounded) to be flushed when Redis answers again. Where the
    server refuses scripts (an ACL without `@scripting`, say), plain HMGET and HSET do the same work.
    """

    def __init__(self, client: aioredis.Redis, prefix: str = "segmenter", cache_size: int = 200_000) -> None:
        self._client = client
        self._key = f"{prefix}:previous"
        self._get, self._set = client.register_script(_GET), client.register_script(_SET)
        self._scripts = True
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
            values = await self._read(unique)
            self._up()
        except RedisError as error:
            self._outage(error)
            return self._cached(unique)
        found = {lead: value for lead, value in zip(unique, values, strict=True) if value >= 0}
        if self._pending:  # written here but not yet to Redis
            found |= {lead: self._pending[lead] for lead in unique if lead in self._pending}
        return found

    async def set_many(self, segments: Mapping[str, int]) -> None:
        self._remember(self._cache, segments)
        if not self._pending and not self._waiting() and await self._written(segments):
            return  # the usual case: nothing queued before, and Redis took these
        self._remember(self._pending, segments)
        await self.flush()

    async def flush(self) -> None:
        """Write queued segments to Redis; keeps them queued if Redis is down."""
        if self._pending and not self._waiting() and await self._written(self._pending):
            self._pending.clear()

    async def _written(self, segments: Mapping[str, int]) -> bool:
        """Whether Redis took `segments`; a failure is an outage."""
        try:
            await self._write(segments)
        except RedisError as error:
            self._outage(error)
            return False
        self._up()
        return True

    async def _read(self, leads: list[str]) -> list[int]:
        if self._scripts:
            try:
                return cast(list[int], orjson.loads(await self._get(keys=[self._key], args=[orjson.dumps(leads)])))
            except ResponseError as error:
                self._without_scripts(error)
        values = await self._client.hmget(self._key, leads)
        return [-1 if value is None else int(value) for value in values]

    async def _write(self, segments: Mapping[str, int]) -> None:
        if self._scripts:
            try:
                await self._set(keys=[self._key], args=[orjson.dumps([x for pair in segments.items() for x in pair])])
                return
            except ResponseError as error:
                self._without_scripts(error)
        await self._client.hset(self._key, mapping=cast(Any, dict(segments)))

    def _without_scripts(self, error: ResponseError) -> None:
        log.warning("Redis refused the previous-segments script (%s): using HMGET and HSET instead", error)
        self._scripts = False

    def _remember(self, store: OrderedDict[str, int], segments: Mapping[str, int]) -> None:
        """Store `segments` as the most recent entries, dropping the oldest beyond the cache size."""
        for lead in segments.keys() & store.keys():
            store.move_to_end(lead)
        store.update(segments)
        for _ in range(len(store) - self._cache_size):
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
