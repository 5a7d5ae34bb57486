"""The model store of the worker and of `segmenter publish`: Redis, with every change also written to the
registry topic, and the atomic, forward-only step that puts back into Redis what the topic holds."""

import logging
import time
from functools import partial

from models.snapshot import ModelSnapshot
from streams.clients import RedisClient, RedisHealth
from streams.exceptions import ServiceUnavailableError
from streams.model_plane.registry import Write, controls_record, model_record
from streams.model_plane.store import HISTORY_KEPT, Controls, RedisModelStore, StoredControls

__all__ = ["MirroredModelStore"]

log = logging.getLogger(__name__)

_MODELS_PER_CALL = 50  # versions stored per Redis call when put back

# Put back what the registry topic holds, never backwards: the model `ARGV[1]` made current only if newer than
# the pointer (stored if missing: versions are immutable), the history merged with the registry's versions
# (`ARGV[7..]`, a union in version order, the last 1,000), the controls replaced only by a higher revision.
_RESTORE = """
local moved, replaced = 0, 0
if ARGV[1] ~= '' then
  local current = redis.call('GET', KEYS[2])
  if not current or tonumber(current) < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], ARGV[2], 'NX')
    redis.call('SET', KEYS[2], ARGV[1])
    moved = 1
  end
end
if #ARGV > 6 then
  local seen, merged = {}, {}
  for _, list in ipairs({redis.call('LRANGE', KEYS[3], 0, -1), {unpack(ARGV, 7)}}) do
    for _, v in ipairs(list) do
      if not seen[v] then seen[v] = true; table.insert(merged, v) end
    end
  end
  table.sort(merged, function(a, b) return tonumber(a) < tonumber(b) end)
  redis.call('DEL', KEYS[3])
  redis.call('RPUSH', KEYS[3], unpack(merged, math.max(1, #merged - 999)))
end
if ARGV[4] ~= '' then
  local revision = redis.call('HGET', KEYS[4], 'revision')
  if not revision or tonumber(revision) < tonumber(ARGV[4]) then
    redis.call('DEL', KEYS[4])
    redis.call('HSET', KEYS[4], 'revision', ARGV[4])
    if ARGV[5] ~= '' then redis.call('HSET', KEYS[4], 'pinned', ARGV[5]) end
    if ARGV[6] ~= '' then redis.call('HSET', KEYS[4], 'k', ARGV[6]) end
    replaced = 1
  end
end
if moved == 1 then redis.call('PUBLISH', ARGV[3], ARGV[1]) end
return {moved, replaced}
"""


class MirroredModelStore(RedisModelStore):
    """The Redis store that also writes each model made current and each change of the controls to the registry
    topic, after Redis (which refuses a stale version or a promotion while pinned), and can be put back from it.
    A write Kafka refuses is said once here and copied from Redis later by a worker's `RegistryKeeper`."""

    def __init__(self, client: RedisClient, prefix: str, write: Write, health: RedisHealth | None = None) -> None:
        super().__init__(client, prefix, health)
        self._write = write
        self._restore = client.register_script(_RESTORE)

    async def publish(self, snapshot: ModelSnapshot, *, despite_pin: bool = False) -> None:
        await super().publish(snapshot, despite_pin=despite_pin)
        await self._mirror(*model_record(snapshot))

    async def set_controls(self, controls: Controls, revision: int | None = None) -> None:
        revision = revision or max(int(time.time() * 1000), (await self.revision() or 0) + 1)
        await super().set_controls(controls, revision)
        await self._mirror(*controls_record(StoredControls(controls, revision)))

    async def _mirror(self, key: bytes, value: bytes) -> None:
        try:
            await self._write(key, value)
        except ServiceUnavailableError as error:
            log.warning("%s written to Redis only, copied to the registry once Kafka answers: %s", key.decode(), error)

    async def has_history(self, length: int) -> bool:
        """Whether the history holds at least `length` versions."""
        return int(await self._call(lambda: self._client.llen(self._history))) >= length

    async def raw(self, version: int) -> bytes | None:
        """Model `version`'s JSON as stored, None if missing."""
        text = await self._call(lambda: self._client.get(self._key(version)))
        return None if text is None else (text if isinstance(text, bytes) else text.encode())

    async def restore(
        self, models: dict[int, bytes], current: int | None, controls: StoredControls | None
    ) -> tuple[bool, bool]:
        """Make `current` current if it is newer than the pointer, merge the versions of `models` into the history
        and set `controls` if their revision is higher, in one atomic step; then store the versions missing, a few
        at a time (each call within the Redis timeout). Returns whether the pointer moved and whether the
        controls were replaced."""
        c = controls.controls if controls else Controls()
        kept = sorted(models)[-HISTORY_KEPT:]
        moved, replaced = await self._call(
            lambda: self._restore(
                keys=[self._key(current or 0), self._key("current"), self._history, self._controls],
                args=[
                    current or "", models[current] if current else "", self.channel,
                    controls.revision if controls else "", c.pinned or "", c.k or "", *kept,
                ],
            )
        )  # fmt: skip
        versions = list(models)
        for start in range(0, len(versions), _MODELS_PER_CALL):
            chunk = {v: models[v] for v in versions[start : start + _MODELS_PER_CALL]}
            await self._call(partial(self._store_missing, chunk))
        return bool(moved), bool(replaced)

    async def _store_missing(self, models: dict[int, bytes]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            for version, text in models.items():
                pipe.set(self._key(version), text, nx=True)
            await pipe.execute()
