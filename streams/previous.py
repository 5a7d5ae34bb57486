"""Each lead's last segment: the `PreviousSegments` protocol, its Redis hash (survives restarts and rebalances,
shared by workers) and an in-memory twin for tests."""

import itertools
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from streams.exceptions import ServiceUnavailableError
from streams.redis_health import RedisHealth

__all__ = ["InMemoryPreviousSegments", "PreviousSegments", "RedisPreviousSegments"]

log = logging.getLogger(__name__)

_FLUSH_CHUNK = 20_000

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


class PreviousSegments(Protocol):
    async def get_many(self, lead_ids: Sequence[str]) -> dict[str, int]:
        """The last segment id of each of `lead_ids` that has one."""
        ...

    async def set_many(self, segments: Mapping[str, int]) -> None:
        """Remember `segments` (lead_id to segment id) as the leads' last segments."""
        ...


class InMemoryPreviousSegments:
    """`PreviousSegments` in a dict, for tests of the logic around it."""

    def __init__(self, segments: Mapping[str, int] | None = None) -> None:
        self.segments = dict(segments or {})

    async def get_many(self, lead_ids: Sequence[str]) -> dict[str, int]:
        return {lead: self.segments[lead] for lead in lead_ids if lead in self.segments}

    async def set_many(self, segments: Mapping[str, int]) -> None:
        self.segments.update(segments)


class RedisPreviousSegments:
    """`{prefix}:previous` maps lead_id to its last segment id.

    While Redis is down (as `health` decides: a hung server is waited on once, not per batch) the worker
    keeps going: reads fall back to a bounded cache of its own recent writes, and writes queue up (bounded)
    to be flushed when Redis answers again. Where the server refuses scripts (an ACL without `@scripting`,
    say), plain HMGET and HSET do the same work.
    """

    def __init__(
        self, client: aioredis.Redis, health: RedisHealth, prefix: str = "segmenter", cache_size: int = 200_000
    ) -> None:
        self._client = client
        self._health = health
        self._key = f"{prefix}:previous"
        self._get, self._set = client.register_script(_GET), client.register_script(_SET)
        self._scripts = True
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._pending: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size
        self._down = False

    async def get_many(self, lead_ids: Sequence[str]) -> dict[str, int]:
        unique = list(dict.fromkeys(lead_ids))
        if not unique:
            return {}
        try:
            values = await self._health.call(lambda: self._read(unique))
        except ServiceUnavailableError:
            self._outage()
            return self._cached(unique)
        self._up()
        found = {lead: value for lead, value in zip(unique, values, strict=True) if value >= 0}
        if self._pending:  # written here but not yet to Redis
            found |= {lead: self._pending[lead] for lead in unique if lead in self._pending}
        return found

    async def set_many(self, segments: Mapping[str, int]) -> None:
        self._remember(self._cache, segments)
        if not self._pending and await self._written(segments):
            return  # the usual case: nothing queued before, and Redis took these
        self._remember(self._pending, segments)
        # Queued writes go in chunks, so that a long outage's backlog does not take one call longer than the timeout.
        while self._pending:
            chunk = dict(itertools.islice(self._pending.items(), _FLUSH_CHUNK))
            if not await self._written(chunk):
                return
            for lead in chunk:
                del self._pending[lead]

    async def _written(self, segments: Mapping[str, int]) -> bool:
        """Whether Redis took `segments`."""
        try:
            await self._health.call(lambda: self._write(segments))
        except ServiceUnavailableError:
            self._outage()
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

    def _outage(self) -> None:
        if not self._down:
            log.warning("previous segments served from the local cache while Redis is down")
        self._down = True

    def _up(self) -> None:
        if self._down:
            log.info("previous segments back in Redis")
        self._down = False
