"""Each lead's last segment under exactly_once: written before its batch's transaction commits, and read so that a
replayed batch sees what its first run saw, whether or not that run's write landed.

A lead's field holds `segment,previous,partition,offset,token`: its last segment, the previous segment its first
event of that batch was routed with, and that event's input position. An event at or before that position is a
replay of the write's own batch (aborted, since its offsets were not committed): it reads `previous`, the value
from before that batch. A later event reads `segment`. `token` is the writer's fence for the partition (taken
after its producer fenced the partition's old owner): a write never replaces a newer owner's, so a zombie that wakes
up after losing its partition cannot overwrite what the new owner remembered."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TypeVar

import orjson
from redis.asyncio import RedisCluster

from streams.clients import RawLead, RedisClient, RedisHealth, initialized, tagged_key
from streams.routing.assign import Routed
from streams.routing.decode import Lead
from streams.routing.previous import CLUSTER_SHARDS, _shard_tags, shard_of

__all__ = ["ReplaySafeSegments"]

T = TypeVar("T")
C = TypeVar("C")

# ARGV[1]: [[lead, partition, offset], ...]; KEYS[1] this period's hash, KEYS[2] the last one's. Missing leads: -1.
_RECALL = """
local items, found, missing = cjson.decode(ARGV[1]), {}, {}
local function seen(i, value)
  local segment, previous, partition, offset = string.match(value, '^(-?%d+),(-?%d+),(%d+),(%d+),')
  if tonumber(partition) == items[i][2] and tonumber(offset) >= items[i][3] then return tonumber(previous) end
  return tonumber(segment)
end
local function fields(key, indexes)
  for i = 1, #indexes, 1000 do
    local names = {}
    for j = i, math.min(i + 999, #indexes) do names[#names + 1] = items[indexes[j]][1] end
    local values = redis.call('HMGET', key, unpack(names))
    for j = 1, #values do
      local k = indexes[i + j - 1]
      if values[j] then found[k] = seen(k, values[j]) elseif key == KEYS[1] then missing[#missing + 1] = k end
    end
  end
end
local all = {}
for i = 1, #items do all[i], found[i] = i, -1 end
fields(KEYS[1], all)
fields(KEYS[2], missing)
return cjson.encode(found)
"""
# ARGV[1]: [[lead, field value, partition, token], ...]; ARGV[2]: when the hash expires. Returns the fields written.
_REMEMBER = """
local items, written = cjson.decode(ARGV[1]), 0
for i = 1, #items, 1000 do
  local names, fields = {}, {}
  for j = i, math.min(i + 999, #items) do names[#names + 1] = items[j][1] end
  local values = redis.call('HMGET', KEYS[1], unpack(names))
  for j = 1, #values do
    local item, value, partition, token = items[i + j - 1], values[j]
    if value then partition, token = string.match(value, ',(%d+),%d+,(%d+)$') end
    if not value or tonumber(partition) ~= item[3] or tonumber(token) <= item[4] then
      fields[#fields + 1], fields[#fields + 2] = item[1], item[2]
    end
  end
  if #fields > 0 then
    redis.call('HSET', KEYS[1], unpack(fields))
    written = written + #fields / 2
  end
end
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return written
"""


class ReplaySafeSegments:
    """Previous segments for exactly_once, in hashes of their own (`{tag}:period`, periods as long as the
    retention, as `RedisPreviousSegments` keeps them). No local fallback: while Redis is down a batch fails with
    `ServiceUnavailableError`, its transaction is aborted and it is routed again later."""

    def __init__(
        self,
        client: RedisClient,
        health: RedisHealth,
        prefix: str,
        *,
        retention_seconds: int,
        shards: int = 0,
    ) -> None:
        self._client = client
        self._health = health
        self._prefix = prefix
        self._retention = retention_seconds
        count = shards or (CLUSTER_SHARDS if isinstance(client, RedisCluster) else 1)
        self._tags = _shard_tags(f"{prefix}:exactly-once", count)
        self._recall, self._remember = client.register_script(_RECALL), client.register_script(_REMEMBER)
        self._tokens: dict[tuple[str, int], int] = {}

    def fence_anew(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Partitions (topic, number) just taken over: their next write takes a new token."""
        for partition in partitions:
            self._tokens.pop(partition, None)

    async def recall(self, valid: Sequence[tuple[RawLead, Lead]]) -> dict[str, int]:
        """Each lead's segment as its first event in `valid` must see it, replayed or not."""
        firsts: dict[str, RawLead] = {}
        for raw, lead in valid:
            firsts.setdefault(lead.lead_id, raw)
        if not firsts:
            return {}
        found: dict[str, int] = {}
        for leads, values in await self._by_shard(list(firsts), self._recalled, firsts):
            found |= {lead: value for lead, value in zip(leads, values, strict=True) if value >= 0}
        return found

    async def remember(
        self,
        valid: Sequence[tuple[RawLead, Lead]],
        outputs: Sequence[Routed],
        unsent: Sequence[tuple[RawLead, Routed]] = (),
    ) -> None:
        """Remember each lead's last segment in `outputs`, with the previous segment and position of its first. A
        lead only in `unsent` (remembered before its outputs were refused) is put back in its previous segment."""
        partitions = {(raw.topic, raw.partition) for raw, _ in [*valid, *unsent]}
        tokens = {partition: await self._token(*partition) for partition in partitions}  # one each, not per lead
        fields: dict[str, list[object]] = {}
        for (raw, _), output in zip(valid, outputs, strict=True):
            first = fields.get(output.lead_id)
            if first is None:
                fields[output.lead_id] = _field(raw, output, output.segment_id, tokens[raw.topic, raw.partition])
            else:
                first[0] = output.segment_id
        for raw, output in unsent:
            if output.lead_id not in fields:
                fields[output.lead_id] = _field(raw, output, None, tokens[raw.topic, raw.partition])
        if fields:
            await self._by_shard(list(fields), self._written, fields)

    async def _recalled(self, shard: int, leads: list[str], firsts: Mapping[str, RawLead]) -> list[int]:
        period = int(time.time() // self._retention)
        keys = [self._hash(shard, period), self._hash(shard, period - 1)]
        items = [[lead, firsts[lead].partition, firsts[lead].offset] for lead in leads]
        values: list[int] = orjson.loads(await self._recall(keys=keys, args=[orjson.dumps(items)]))
        return values

    async def _written(self, shard: int, leads: list[str], fields: Mapping[str, list[object]]) -> int:
        period = int(time.time() // self._retention)
        items = [[lead, ",".join(map(str, fields[lead])), fields[lead][2], fields[lead][4]] for lead in leads]
        expires = (period + 2) * self._retention  # the end of the next period
        written: int = await self._remember(keys=[self._hash(shard, period)], args=[orjson.dumps(items), expires])
        return written

    async def _by_shard(
        self, leads: list[str], call: Callable[[int, list[str], C], Awaitable[T]], context: C
    ) -> list[tuple[list[str], T]]:
        """`call(shard, its leads, context)` for each shard holding any of `leads`, concurrently and through the
        health check; (leads, result) per shard."""
        parts: dict[int, list[str]] = {}
        for lead, shard in zip(leads, shard_of(leads, len(self._tags)).tolist(), strict=True):
            parts.setdefault(shard, []).append(lead)

        async def together() -> list[T]:
            await initialized(self._client)
            return list(await asyncio.gather(*[call(shard, part, context) for shard, part in parts.items()]))

        return list(zip(parts.values(), await self._health.call(together), strict=True))

    async def _token(self, topic: str, partition: int) -> int:
        token = self._tokens.get((topic, partition))
        if token is None:
            key = tagged_key(self._prefix, "exactly-once", "fence", topic, partition)
            token = self._tokens[topic, partition] = int(await self._health.call(lambda: self._client.incr(key)))
        return token

    def _hash(self, shard: int, period: int) -> str:
        return f"{{{self._tags[shard]}}}:{period}"


def _field(raw: RawLead, output: Routed, segment: int | None, token: int) -> list[object]:
    """A lead's field at its first event of the batch (`segment` None: put back in its previous segment)."""
    previous = -1 if output.previous_segment_id is None else output.previous_segment_id
    return [previous if segment is None else segment, previous, raw.partition, raw.offset, token]
