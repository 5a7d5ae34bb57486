"""Each lead's last segment: the `PreviousSegments` protocol, its Redis layout (survives restarts and rebalances,
shared by workers, forgotten after a retention, spread over a cluster's nodes) and an in-memory twin for tests."""

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, Protocol, TypeVar, cast

import numpy as np
import orjson
from redis.asyncio import RedisCluster
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.exceptions import AskError, ResponseError

from streams.clients import RedisClient, RedisHealth, initialized
from streams.exceptions import ServiceUnavailableError

__all__ = ["CLUSTER_SHARDS", "InMemoryPreviousSegments", "PreviousSegments", "RedisPreviousSegments", "shard_of"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_FLUSH_CHUNK = 20_000
# Hashes on a Redis Cluster unless set: each a call per batch (a cost of the worker's), and spread evenly over
# 2, 3, 4 or 6 nodes that hold equal slot ranges.
CLUSTER_SHARDS = 12
_DEFAULT_RETENTION = 90 * 86_400

# A batch's reads and writes each as one JSON argument: redis-py builds a command argument by argument in
# Python, which for a batch of a thousand leads cost more than the rest of its Redis work. Chunks of 1,000
# keep `unpack` within Lua's stack. KEYS[1] is this period's hash, KEYS[2] the period before's: leads not in
# the first are looked up in the second. Missing leads read as -1.
_GET = """
local leads, found, missing = cjson.decode(ARGV[1]), {}, {}
for i = 1, #leads, 1000 do
  local values = redis.call('HMGET', KEYS[1], unpack(leads, i, math.min(i + 999, #leads)))
  for j = 1, #values do
    found[i + j - 1] = values[j] and tonumber(values[j]) or -1
    if not values[j] then missing[#missing + 1] = i + j - 1 end
  end
end
for i = 1, #missing, 1000 do
  local names = {}
  for j = i, math.min(i + 999, #missing) do names[#names + 1] = leads[missing[j]] end
  local values = redis.call('HMGET', KEYS[2], unpack(names))
  for j = 1, #values do if values[j] then found[missing[i + j - 1]] = tonumber(values[j]) end end
end
return cjson.encode(found)
"""
# ARGV[2]: when the hash expires, the end of the period after its own.
_SET = """
local fields = cjson.decode(ARGV[1])
for i = 1, #fields, 1000 do
  redis.call('HSET', KEYS[1], unpack(fields, i, math.min(i + 999, #fields)))
end
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return #fields / 2
"""


def shard_of(lead_ids: Sequence[str], shards: int) -> np.ndarray:
    """Each lead's shard in `range(shards)`: a hash of its id's characters, the same in every process.

    Examples:
        >>> shard_of(["lead-1", "lead-2", "lead-1"], 16).tolist()
        [12, 4, 12]
        >>> shard_of(["lead-1", "lead-2"], 1).tolist()
        [0, 0]
    """
    if shards == 1:  # one server's single hash: nothing to compute
        return np.zeros(len(lead_ids), dtype=np.intp)
    points = np.array(lead_ids, dtype=np.str_)
    points = points.view(np.uint32).reshape(len(lead_ids), -1).astype(np.uint64)
    hashes = (points * _mixed(np.arange(1, points.shape[1] + 1, dtype=np.uint64))).sum(axis=1, dtype=np.uint64)
    return (_mixed(hashes) % np.uint64(shards)).astype(np.intp)


def _mixed(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every bit of each output depends on every bit of its input (uint64, wrapping)."""
    values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = values ^ (values >> np.uint64(31))
    return mixed


def _shard_tags(prefix: str, shards: int) -> list[str]:
    """One hash tag per shard, the i-th hashing into the i-th of `shards` equal ranges of cluster slots, so that
    a cluster whose nodes hold equal ranges (as `--cluster create` makes it) holds equal numbers of shards."""
    tags = []
    for shard in range(shards):
        low, high = REDIS_CLUSTER_HASH_SLOTS * shard // shards, REDIS_CLUSTER_HASH_SLOTS * (shard + 1) // shards
        candidates = (f"{prefix}:previous:{shard}.{salt}" for salt in itertools.count())
        tags.append(next(tag for tag in candidates if low <= key_slot(tag.encode()) < high))
    return tags


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
    """Lead ids to their last segment ids, in Redis hashes named `{tag}:period`.

    Time is cut into periods as long as the retention; a routed lead is written to its shard's hash of this
    period, which expires at the end of the next period, and read from this period's hash, then the last one's:
    a lead is remembered at least the retention after it was last routed and at most twice it. Leads are spread
    over `shards` hashes by a hash of their id (one script call per shard per batch, concurrent); each shard's
    tag hashes into its own share of the cluster slots, so the shards spread over a cluster's nodes.

    While Redis is down (as `health` decides: a hung server is waited on once, not per batch) the worker
    keeps going: reads fall back to a bounded cache of its own recent writes, and writes queue up (bounded)
    to be flushed when Redis answers again. Where the server refuses scripts (an ACL without `@scripting`,
    say), plain HMGET, HSET and EXPIREAT do the same work.
    """

    def __init__(
        self,
        client: RedisClient,
        health: RedisHealth,
        prefix: str = "segmenter",
        cache_size: int = 200_000,
        *,
        retention_seconds: int = _DEFAULT_RETENTION,
        shards: int = 0,
    ) -> None:
        """`shards` 0: one hash per period on a single server, `CLUSTER_SHARDS` on a cluster."""
        self._client = client
        self._health = health
        self._retention = retention_seconds
        self._tags = _shard_tags(prefix, shards or (CLUSTER_SHARDS if isinstance(client, RedisCluster) else 1))
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
            found = await self._health.call(lambda: self._read(unique))
        except ServiceUnavailableError:
            self._outage()
            return self._cached(unique)
        self._up()
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

    def _period(self) -> int:
        return int(time.time() // self._retention)

    def _hash(self, shard: int, period: int) -> str:
        return f"{{{self._tags[shard]}}}:{period}"

    def _by_shard(self, leads: list[str]) -> list[tuple[int, list[str]]]:
        """`leads` grouped by shard, skipping shards with none."""
        shards = shard_of(leads, len(self._tags))
        ordered = np.array(leads, dtype=object)[np.argsort(shards, kind="stable")]
        ends = np.cumsum(np.bincount(shards, minlength=len(self._tags)))
        return [(shard, part.tolist()) for shard, part in enumerate(np.split(ordered, ends[:-1])) if len(part)]

    async def _read(self, leads: list[str]) -> dict[str, int]:
        if len(self._tags) == 1:
            return await self._read_shard(0, leads)
        found: dict[str, int] = {}
        for part in await self._together([self._read_shard(shard, part) for shard, part in self._by_shard(leads)]):
            found |= part
        return found

    async def _read_shard(self, shard: int, leads: list[str]) -> dict[str, int]:
        period = self._period()
        current, last = self._hash(shard, period), self._hash(shard, period - 1)
        if self._scripts:
            try:
                values = orjson.loads(await self._get(keys=[current, last], args=[orjson.dumps(leads)]))
                return {lead: value for lead, value in zip(leads, values, strict=True) if value >= 0}
            except ResponseError as error:
                self._without_scripts(error)
        found = {lead: int(v) for lead, v in zip(leads, await self._client.hmget(current, leads), strict=True) if v}
        if missing := [lead for lead in leads if lead not in found]:
            values = await self._client.hmget(last, missing)
            found |= {lead: int(value) for lead, value in zip(missing, values, strict=True) if value}
        return found

    async def _write(self, segments: Mapping[str, int]) -> None:
        if len(self._tags) == 1:
            await self._write_shard(0, segments)
            return
        await self._together(
            [
                self._write_shard(shard, {lead: segments[lead] for lead in part})
                for shard, part in self._by_shard(list(segments))
            ]
        )

    async def _together(self, calls: list[Coroutine[Any, Any, T]]) -> list[T]:
        """The shards' calls, concurrently."""
        await initialized(self._client)
        return await asyncio.gather(*calls)

    async def _write_shard(self, shard: int, segments: Mapping[str, int]) -> None:
        period = self._period()
        current, expires = self._hash(shard, period), (period + 2) * self._retention  # the end of the next period
        if self._scripts:
            try:
                fields = orjson.dumps([x for pair in segments.items() for x in pair])
                await self._set(keys=[current], args=[fields, expires])
                return
            except ResponseError as error:
                self._without_scripts(error)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hset(current, mapping=cast(Any, dict(segments)))
            pipe.expireat(current, expires)
            await pipe.execute()

    def _without_scripts(self, error: ResponseError) -> None:
        if isinstance(error, AskError):  # MOVED or ASK: a cluster node behind a plain URL, no refusal
            raise error
        if self._scripts:
            log.warning(
                "Redis refused the previous-segments script (%s): using HMGET, HSET and EXPIREAT instead", error
            )
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
