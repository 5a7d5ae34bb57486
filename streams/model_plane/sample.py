"""The refit sample every worker shares: one Redis sorted set of recency-weighted leads, fed off the hot path."""

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import mode
import numpy as np
from redis.client import NEVER_DECODE
from redis.exceptions import ResponseError

from models.settings import Settings
from segmentation.features import FEATURES
from segmentation.recency import MAX_NOISE, RecencySample, best
from streams.clients import RedisClient, RedisHealth, tagged_key
from streams.exceptions import ServiceUnavailableError

__all__ = ["SEND_SECONDS", "Sample", "SharedSample"]

log = logging.getLogger(__name__)

# Rows per call. A call holds Redis, and every hot-path call queued behind it, for its whole run: 5,000 rows took
# 13-41 ms each (SLOWLOG, Apache Kafka and redis-server sharing 2 cores at 1,000 leads/s) and set the routing p99
# every 10 s; 500 take 2.3 ms median, 5.7 at most (docs/performance.md, "What sets the tail").
_CHUNK = 500
_PAGE = 10_000  # rows per read
# Rows held here are sent this often. Between two sends the worker keeps only the best `capacity` of them (an
# exact cut: no other could enter), so a longer interval sends fewer: of the first n leads of a new sample
# about capacity · (1 + ln(n / w)) are sent, w the larger of capacity and the leads of one interval.
SEND_SECONDS = 10.0
_CLOCK_SKEW_SECONDS = 300  # workers' clocks may differ by this much

# Add packed rows (ARGV[5] bytes each, the little-endian double key first; the row itself is the member) and
# keep the `capacity` largest keys, all in one step. A sample written under a shorter half-life (its keys
# beyond any this writer could make now, ARGV[3]) or another row layout is dropped first: its keys would
# shut new leads out. With ARGV[4] = '1' rows are added only to an empty sample (the seed file). Returns
# the smallest key kept if the sample is full ('-inf' if not), its size, the rows added and 1 if it was dropped.
_ADD = """
local key, rows, capacity, ceiling, width = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local reset = 0
local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if top[1] and (#top[1] ~= width or tonumber(top[2]) > ceiling) then
  redis.call('DEL', key)
  reset = 1
end
local size = redis.call('ZCARD', key)
local added = 0
if ARGV[4] ~= '1' or size == 0 then
  local args = {}
  for at = 1, #rows, width do
    local row = string.sub(rows, at, at + width - 1)
    args[#args + 1] = struct.unpack('<d', row)
    args[#args + 1] = row
    if #args == 1000 then
      redis.call('ZADD', key, unpack(args))
      args = {}
    end
  end
  if #args > 0 then
    redis.call('ZADD', key, unpack(args))
  end
  added = #rows / width
  size = redis.call('ZCARD', key)
  if size > capacity then
    redis.call('ZREMRANGEBYRANK', key, 0, size - capacity - 1)
    size = capacity
  end
end
local floor = '-inf'
if size >= capacity then
  floor = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
end
return {floor, size, added, reset}
"""


def _features(pages: list[np.ndarray]) -> np.ndarray:
    features: np.ndarray = np.concatenate([page["features"] for page in pages]).astype(np.float64)
    return features


class Sample(Protocol):
    """What the refitter reads: the sample's size when last heard, and its rows."""

    @property
    def size(self) -> int: ...

    async def rows(self) -> np.ndarray: ...


class SharedSample(mode.Service):
    """`{prefix}:sample` (under the prefix's hash tag): the `refit_sample_size` leads with the largest A-ES keys
    (segmentation/recency.py) among every lead any worker routed, so a lead seen one half-life later is twice as
    likely to be in it.

    `add` (the router's `on_routed`) costs one uniform draw and one comparison per lead: a lead whose key
    cannot beat the sample's smallest key, as last heard, is dropped at once; the others are held here (the
    best `capacity` of them: exactly those that could still enter, cut back off the event loop when they reach
    twice that) and sent by a background task every `SEND_SECONDS`, a chunk per call. While Redis is down
    nothing waits on it: the rows wait here.
    `seed` rows (the seed file) are added at start, as leads seen then, only if the sample is empty."""

    def __init__(
        self,
        client: RedisClient,
        health: RedisHealth,
        settings: Settings,
        seed: np.ndarray | None = None,
        clock: Callable[[], float] = time.time,
        random_state: int | None = None,
    ) -> None:
        super().__init__()
        self._client = client
        self._health = health
        self._key = tagged_key(settings.redis_key_prefix, "sample")
        self._capacity = settings.refit_sample_size
        self._half_life = settings.refit_sample_half_life_seconds
        self._clock = clock
        self._held = RecencySample(
            capacity=self._capacity, half_life=self._half_life, n_features=len(FEATURES), random_state=random_state
        )
        self._seed = seed if seed is not None and len(seed) else None
        self._add = client.register_script(_ADD)
        self._scripts = True
        self._flushing_lock = asyncio.Lock()
        self._full = asyncio.Event()  # the rows held reached twice the size: cut them (and send) now
        self._size = 0
        self._waiting = False  # rows held here because Redis is down (said once per outage)

    @property
    def size(self) -> int:
        """Leads in the shared sample, when last heard (at most `SEND_SECONDS` ago while Redis answers)."""
        return self._size

    def add(self, X: np.ndarray) -> None:
        """Offer a batch of routed leads' features (on the hot path: vectorized, no I/O, no sorting)."""
        self._held.offer(X, self._clock())
        if self._held.full:
            self._full.set()

    async def on_start(self) -> None:
        await self.flush()

    async def on_stop(self) -> None:
        await self.flush()

    @mode.Service.task
    async def _flushing(self) -> None:
        due = time.monotonic() + SEND_SECONDS
        while not self.should_stop:
            try:
                await asyncio.wait_for(self._full.wait(), max(due - time.monotonic(), 0))
            except TimeoutError:
                pass
            self._full.clear()
            if time.monotonic() < due:  # full before it is time to send: cut back, keep
                self._held.hold(await self._best())
                continue
            await self.flush()
            due = time.monotonic() + SEND_SECONDS

    async def flush(self) -> int:
        """Send the rows held here (the seed first, if not sent yet) and hear the sample's size and smallest
        key; with nothing held, only hear them. Rows that Redis did not take stay held. Returns the rows sent.
        One flush at a time: a refit's read (`rows`) waits for a flush under way, the start's seed included."""
        async with self._flushing_lock:
            if self._seed is not None and not await self._sent_seed(self._seed):
                return 0
            rows = await self._best()
            for start in range(0, max(len(rows), 1), _CHUNK):
                if await self._send(rows[start : start + _CHUNK]) is None:
                    self._held.hold(rows[start:])
                    return start
            return len(rows)

    async def _best(self) -> np.ndarray:
        """The best `capacity` of the rows held, and none held any more; cut off the event loop (a million take
        0.4 s), which raises the threshold to the smallest key kept."""
        rows = np.empty(0, self._held.dtype)
        if chunks := self._held.detach():
            rows, floor = await asyncio.get_running_loop().run_in_executor(None, best, chunks, self._capacity)
            self._held.threshold = max(self._held.threshold, floor)
        return rows

    async def rows(self) -> np.ndarray:
        """Every lead in the shared sample (features as float64), read a page at a time in key order, after the
        rows held here are sent (other workers' reach it within `SEND_SECONDS`)."""
        await self.flush()
        pages: list[np.ndarray] = []
        low = "-inf"
        while True:
            page = await self._health.call(lambda low=low: self._page(low))  # type: ignore[misc]
            pages.append(np.frombuffer(b"".join(page), self._held.dtype))
            if len(page) < _PAGE:
                break
            low = f"({float(pages[-1]['key'][-1])!r}"  # after the last key read
        # Off the event loop: for a sample of a million leads, the copy takes tens of milliseconds.
        rows = await asyncio.get_running_loop().run_in_executor(None, _features, pages)
        self._size = len(rows)
        return rows

    async def _page(self, low: str, count: int = _PAGE) -> list[bytes]:
        options = {NEVER_DECODE: True}  # members are packed floats, not text
        command = self._client.execute_command
        page = await command("ZRANGEBYSCORE", self._key, low, "+inf", "LIMIT", 0, count, **options)
        return list(page)

    async def _sent_seed(self, seed: np.ndarray) -> bool:
        """Whether the seed is settled: added (the sample was empty), or refused (it was not)."""
        held = RecencySample(capacity=self._capacity, half_life=self._half_life, n_features=len(FEATURES))
        held.offer(seed, self._clock())
        rows = held.take()
        added = await self._send(rows[:_CHUNK], only_if_empty=True)
        if added is None:
            return False
        self._seed = None
        if added == 0:
            log.info("refit sample: %s already holds %d leads, the seed file is not added", self._key, self._size)
            return True
        for start in range(_CHUNK, len(rows), _CHUNK):
            self._held.hold(rows[start : start + _CHUNK])
        log.info("refit sample: %d leads of the seed file added to %s", len(rows), self._key)
        return True

    async def _send(self, rows: np.ndarray, only_if_empty: bool = False) -> int | None:
        """Add `rows` to the shared sample; the rows added, or None if Redis did not answer."""
        ceiling = (self._clock() + _CLOCK_SKEW_SECONDS) * math.log(2) / self._half_life + MAX_NOISE
        try:
            floor, size, added, reset = await self._health.call(lambda: self._added(rows, ceiling, only_if_empty))
        except ServiceUnavailableError as error:
            if not self._waiting:
                log.warning("refit sample: %s; leads held here (at most %d) until it answers", error, self._capacity)
            self._waiting = True
            return None
        if self._waiting:
            log.info("refit sample: Redis answers again, the leads held here are sent")
        self._waiting = False
        if reset:
            log.warning("refit sample: %s was written with a shorter half-life or layout: started afresh", self._key)
        self._held.threshold = float(floor)
        self._size = int(size)
        return int(added)

    async def _added(self, rows: np.ndarray, ceiling: float, only_if_empty: bool) -> list[Any]:
        """The script's answer (smallest key if full, size, rows added, 1 if started afresh); where the server
        refuses scripts, the same from plain commands (not atomic: two workers seeding at once may both add)."""
        if self._scripts:
            flag = "1" if only_if_empty else "0"
            args: list[bytes | str | int] = [rows.tobytes(), self._capacity, repr(ceiling), flag, rows.dtype.itemsize]
            try:
                return list(await self._add(keys=[self._key], args=args))
            except ResponseError as error:  # refused (an ACL without @scripting, say): not an outage
                log.warning("Redis refused the refit sample's script (%s): using ZADD and ZREMRANGEBYRANK", error)
                self._scripts = False
        client, key = self._client, self._key
        reset = int(await client.zcount(key, f"({ceiling!r}", "+inf") > 0)
        if reset:
            await client.delete(key)
        added = 0
        if not (only_if_empty and await client.zcard(key)):
            if len(rows):
                await client.zadd(key, {row.tobytes(): float(row["key"]) for row in rows})
            added = len(rows)
        await client.zremrangebyrank(key, 0, -self._capacity - 1)
        size = int(await client.zcard(key))
        lowest = await self._page("-inf", 1) if size >= self._capacity else []
        return [np.frombuffer(lowest[0][:8], "<f8")[0] if lowest else -math.inf, size, added, reset]
