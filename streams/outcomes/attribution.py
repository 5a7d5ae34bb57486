"""Attribution in Redis, shared by every worker: each lead's first exposure (model version, segment, arm, when), the
outcome ids already counted, and the tallies per model version × segment × arm that `segmentation.tallies.Cell`
is read from. Each batch of exposures and of outcomes is one script call, so a redelivered batch changes nothing."""

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, cast

import orjson

from segmentation.tallies import Cell
from streams.clients import RedisClient, RedisHealth, tagged_key

__all__ = ["BUCKETS_PER_WINDOW", "Attribution", "Outcome", "Tallies", "cell_key", "tallies_of"]

# A window is cut into this many buckets of exposure time: a bucket's open leads count as lost once its last
# moment is a window old, so a lead may show as open up to 1/64 of the window longer than its own window.
BUCKETS_PER_WINDOW = 64

# A record per exposed lead: "cell|t0|result|amount" (result: won, lost or empty). KEYS[1] is this period's hash of
# exposures, KEYS[2] the last period's (a period is a window long), KEYS[3] the tallies. A lead is exposed anew
# only when it has no record whose window is still open.
_EXPOSE = """
local leads, now, window, width = cjson.decode(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local bucket, new, counts = math.floor(now / width), 0, {}
for cell, meta in pairs(cjson.decode(ARGV[6])) do redis.call('HSETNX', KEYS[3], cell .. '|meta', meta) end
for i = 1, #leads, 2 do
  local lead, cell = leads[i], leads[i + 1]
  if redis.call('HSETNX', KEYS[1], lead, cell .. '|' .. ARGV[2] .. '||') == 1 then
    local before = redis.call('HGET', KEYS[2], lead)
    if before and tonumber(string.match(before, '^[^|]*|([^|]*)')) + window > now then
      redis.call('HDEL', KEYS[1], lead)  -- exposed last period, its window still open
    else
      counts[cell] = (counts[cell] or 0) + 1
      new = new + 1
    end
  end
end
for cell, n in pairs(counts) do redis.call('HINCRBY', KEYS[3], cell .. '|exposed|' .. bucket, n) end
redis.call('EXPIREAT', KEYS[1], ARGV[5])
redis.call('EXPIREAT', KEYS[3], ARGV[7])
return new
"""
# KEYS: this and the last period's exposures, this and the last period's outcome ids, the tallies. ARGV[1]: a flat
# list of (outcome id, lead id, outcome, amount, time) per outcome. Returns each outcome's status: duplicate,
# unattributed, after_window, or the outcome applied.
_SETTLE = """
local outcomes, window, width = cjson.decode(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local statuses = {}
local function count(field, by) redis.call('HINCRBYFLOAT', KEYS[5], field, by) end
local function retract(cell, bucket, result, amount)
  redis.call('HINCRBY', KEYS[5], cell .. '|' .. result, -1)
  redis.call('HINCRBY', KEYS[5], cell .. '|resulted|' .. bucket, -1)
  if result == 'won' then
    local a = tonumber(amount)
    count(cell .. '|revenue', string.format('%.17g', -a))
    count(cell .. '|revenue_sq', string.format('%.17g', -a * a))
  end
end
for i = 1, #outcomes, 5 do
  local id, lead, outcome, amount = outcomes[i], outcomes[i + 1], outcomes[i + 2], outcomes[i + 3]
  local at = tonumber(outcomes[i + 4])
  local status = outcome
  if redis.call('HEXISTS', KEYS[3], id) == 1 or redis.call('HEXISTS', KEYS[4], id) == 1 then
    status = 'duplicate'
  else
    redis.call('HSET', KEYS[3], id, 1)
    local key, record = KEYS[1], redis.call('HGET', KEYS[1], lead)
    local last = redis.call('HGET', KEYS[2], lead)
    if last and (not record or at < tonumber(string.match(record, '^[^|]*|([^|]*)'))) then
      key, record = KEYS[2], last
    end
    if not record then
      status = 'unattributed'
    else
      local cell, t0, result, was = string.match(record, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
      local bucket = math.floor(tonumber(t0) / width)
      if at > tonumber(t0) + window then
        status = 'after_window'
      else
        if result ~= '' then retract(cell, bucket, result, was) end
        if outcome == 'reopened' then
          redis.call('HSET', key, lead, cell .. '|' .. t0 .. '||')
        else
          redis.call('HINCRBY', KEYS[5], cell .. '|' .. outcome, 1)
          redis.call('HINCRBY', KEYS[5], cell .. '|resulted|' .. bucket, 1)
          if outcome == 'won' then
            local a = tonumber(amount)
            count(cell .. '|revenue', amount)
            count(cell .. '|revenue_sq', string.format('%.17g', a * a))
          end
          redis.call('HSET', key, lead, cell .. '|' .. t0 .. '|' .. outcome .. '|' .. amount)
        end
      end
    end
    if status == 'unattributed' or status == 'after_window' then redis.call('HINCRBY', KEYS[5], status, 1) end
  end
  statuses[#statuses + 1] = status
end
redis.call('EXPIREAT', KEYS[3], ARGV[4])
redis.call('EXPIREAT', KEYS[5], ARGV[5])
return cjson.encode(statuses)
"""


class Outcome(NamedTuple):
    """A valid outcome as attribution takes it: `at` is when it happened (seconds since the epoch)."""

    outcome_id: str
    lead_id: str
    outcome: Literal["won", "lost", "reopened"]
    amount: float
    at: float


@dataclass(frozen=True)
class Tallies:
    """The cells of every model version still in Redis, and the outcomes no exposure took: for a lead never routed
    (`unattributed`) or after its window closed (`after_window`)."""

    cells: list[Cell]
    unattributed: int
    after_window: int


def cell_key(model_version: int, segment_id: int, arm: str) -> str:
    """The tallies' name of one model version × segment × arm."""
    return f"{model_version}:{segment_id}:{arm}"


class Attribution:
    """First exposures, outcomes and tallies under the prefix's hash tag (one slot on a Redis Cluster). Exposures
    and outcome ids live in hashes of periods a window long, each expiring at the end of the period after its own;
    the tallies expire three windows after their last change. Every call goes through `health` and raises
    `ServiceUnavailableError` while Redis is down."""

    def __init__(self, client: RedisClient, health: RedisHealth, prefix: str, window_seconds: float) -> None:
        self._client = client
        self._health = health
        self._prefix = prefix
        self._window = window_seconds
        self._width = window_seconds / BUCKETS_PER_WINDOW
        self._expose, self._settle = client.register_script(_EXPOSE), client.register_script(_SETTLE)
        self.tallies_key = tagged_key(prefix, "impact", "tallies")

    def _period(self, name: str, now: float) -> tuple[str, str, int]:
        """This period's hash of `name`, the last one's, and when this one expires."""
        period = math.floor(now / self._window)
        expires = math.ceil((period + 2) * self._window)
        return tagged_key(self._prefix, name, period), tagged_key(self._prefix, name, period - 1), expires

    def _tallies_expire(self, now: float) -> int:
        return math.ceil(now + 3 * self._window)

    async def expose(self, leads: Sequence[tuple[str, str]], meta: Mapping[str, bytes], now: float) -> int:
        """Record (lead id, cell key) pairs exposed at `now`, each lead only if it has no open window; `meta` holds
        each cell's `{segment_name, close_rate, avg_deal_size}` JSON. Returns how many exposures were first ones."""
        current, last, expires = self._period("exposures", now)
        args: list[bytes | str | int] = [
            orjson.dumps([x for pair in leads for x in pair]), repr(now), repr(self._window), repr(self._width),
            expires, orjson.dumps({cell: m.decode() for cell, m in meta.items()}), self._tallies_expire(now),
        ]  # fmt: skip
        keys = [current, last, self.tallies_key]
        return cast(int, await self._health.call(lambda: self._expose(keys=keys, args=args)))

    async def settle(self, outcomes: Sequence[Outcome], now: float | None = None) -> list[str]:
        """Count `outcomes` against their leads' first exposures; returns each one's status (`duplicate`,
        `unattributed`, `after_window`, or its outcome)."""
        now = time.time() if now is None else now
        exposures, last_exposures, _ = self._period("exposures", now)
        ids, last_ids, expires = self._period("outcome-ids", now)
        flat = [x for o in outcomes for x in (*o[:3], repr(float(o.amount)), repr(o.at))]
        args: list[bytes | str | int] = [
            orjson.dumps(flat),
            repr(self._window),
            repr(self._width),
            expires,
            self._tallies_expire(now),
        ]
        keys = [exposures, last_exposures, ids, last_ids, self.tallies_key]
        if not outcomes:
            return []
        statuses = await self._health.call(lambda: self._settle(keys=keys, args=args))
        return cast(list[str], orjson.loads(statuses))

    async def tallies(self, now: float | None = None) -> Tallies:
        fields = await self._health.call(lambda: self._client.hgetall(self.tallies_key))  # decoded: str to str
        return tallies_of(cast(dict[str, str], fields), self._window, time.time() if now is None else now)


def tallies_of(fields: Mapping[str, str], window: float, now: float) -> Tallies:
    """The cells in the tallies hash `fields` at `now`: a bucket's leads without a result are open while the bucket's
    last moment is less than a window old, lost after.

    Examples:
        >>> fields = {"3:1:segmented|meta": '{"segment_name": "A", "close_rate": 0.5, "avg_deal_size": 100}',
        ...           "3:1:segmented|exposed|0": "4", "3:1:segmented|resulted|0": "2", "3:1:segmented|won": "1",
        ...           "3:1:segmented|lost": "1", "3:1:segmented|revenue": "250", "3:1:segmented|revenue_sq": "62500",
        ...           "unattributed": "2"}
        >>> tallies = tallies_of(fields, window=64.0, now=10.0)
        >>> cell = tallies.cells[0]
        >>> (cell.exposed, cell.won, cell.lost, cell.open, cell.revenue, tallies.unattributed)
        (4, 1, 1, 2, 250.0, 2)
        >>> tallies_of(fields, window=64.0, now=65.0).cells[0].lost  # the bucket [0, 1) is a window old: lost
        3
    """
    width = window / BUCKETS_PER_WINDOW
    counts: dict[str, dict[str, float]] = {}
    buckets: dict[str, dict[int, list[int]]] = {}
    meta: dict[str, dict[str, object]] = {}
    for field, value in fields.items():
        cell, _, rest = field.partition("|")
        if not rest:
            continue
        name, _, bucket = rest.partition("|")
        if name == "meta":
            meta[cell] = orjson.loads(value)
        elif bucket:
            pair = buckets.setdefault(cell, {}).setdefault(int(bucket), [0, 0])
            pair[name == "resulted"] += int(value)
        else:
            counts.setdefault(cell, {})[name] = float(value)
    cells = []
    for cell, about in sorted(meta.items(), key=lambda item: _order(item[0])):
        version, segment, arm = cell.split(":")
        exposed = open_ = unresulted = 0
        for index, (n, resulted) in buckets.get(cell, {}).items():
            exposed += n
            if (index + 1) * width + window > now:
                open_ += n - resulted
            else:
                unresulted += n - resulted
        count = counts.get(cell, {})
        cells.append(
            Cell(
                model_version=int(version),
                segment_id=int(segment),
                segment_name=str(about["segment_name"]),
                arm=cast(Literal["segmented", "holdout"], arm),
                assumed_close_rate=float(cast(float, about["close_rate"])),
                assumed_avg_deal_size=float(cast(float, about["avg_deal_size"])),
                exposed=exposed,
                won=int(count.get("won", 0)),
                lost=int(count.get("lost", 0)) + unresulted,
                open=open_,
                revenue=count.get("revenue", 0.0),
                revenue_sq=count.get("revenue_sq", 0.0),
            )
        )
    return Tallies(cells, int(fields.get("unattributed", 0)), int(fields.get("after_window", 0)))


def _order(cell: str) -> tuple[int, int, str]:
    version, segment, arm = cell.split(":")
    return int(version), int(segment), arm
