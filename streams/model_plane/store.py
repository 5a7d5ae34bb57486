"""Model store: immutable versions, an atomically moved `current` pointer, and change notices."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from models.exceptions import SnapshotError
from models.snapshot import ModelSnapshot
from streams.clients import REDIS_ERRORS, RedisClient, RedisHealth, answer, initialized, tagged_key
from streams.exceptions import PinnedError, ServiceUnavailableError, StaleModelError

__all__ = ["HISTORY_KEPT", "Controls", "InMemoryModelStore", "ModelStore", "RedisModelStore", "StoredControls"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Controls:
    """What operators set for every worker: the version pinned (None: not pinned), and the K of refits
    (None: chosen again at each refit)."""

    pinned: int | None = None
    k: int | None = None


@dataclass(frozen=True)
class StoredControls:
    """The controls with their revision (milliseconds when set): of two copies, the higher revision wins."""

    controls: Controls
    revision: int


class ModelStore(Protocol):
    async def current_version(self) -> int | None: ...

    async def load(self, version: int) -> ModelSnapshot: ...

    async def publish(self, snapshot: ModelSnapshot, *, despite_pin: bool = False) -> None:
        """Store `snapshot` and make it current; refused (`PinnedError`) while a version is pinned unless
        `despite_pin` (the pin and rollback commands themselves)."""
        ...

    async def history(self, limit: int = 100) -> list[int]:
        """The versions made current, oldest first (at most the last `limit`)."""
        ...

    async def controls(self) -> Controls: ...

    async def set_controls(self, controls: Controls) -> None: ...

    def notices(self) -> AsyncIterator[int]: ...


# Refuse a version that is not newer (or any while pinned, unless told), keep versions immutable, move the
# pointer, record it in the history and announce, all in one atomic step.
_PUBLISH = """
local current = redis.call('GET', KEYS[2])
if current and tonumber(current) >= tonumber(ARGV[1]) then
  return {0, current}
end
local pinned = redis.call('HGET', KEYS[4], 'pinned')
if pinned and ARGV[4] ~= '1' then
  return {-2, pinned}
end
if redis.call('SET', KEYS[1], ARGV[2], 'NX') == false then
  return {-1, ARGV[1]}
end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('LTRIM', KEYS[3], -1000, -1)
redis.call('PUBLISH', ARGV[3], ARGV[1])
return {1, ARGV[1]}
"""
HISTORY_KEPT = 1000


class RedisModelStore:
    """`{prefix}:model:<version>` holds each model's JSON, `{prefix}:model:current` the current version,
    `{prefix}:model:history` the versions made current (the last 1,000), `{prefix}:controls` the pin and the K
    of refits; `prefix:models` (pub/sub) announces each new version. The braces are in the key names: a hash
    tag, so that on a Redis Cluster all these keys share one slot, as the publish script needs."""

    def __init__(self, client: RedisClient, prefix: str = "segmenter", health: RedisHealth | None = None) -> None:
        self._client = client
        self._prefix = prefix
        self._publish = client.register_script(_PUBLISH)
        # The worker's store waits on Redis only while it answers; a one-off command's waits out its timeouts.
        self._call = health.call if health is not None else answer

    @property
    def channel(self) -> str:
        return f"{self._prefix}:models"

    def _key(self, version: int | str) -> str:
        return tagged_key(self._prefix, "model", version)

    @property
    def _history(self) -> str:
        return tagged_key(self._prefix, "model", "history")

    @property
    def _controls(self) -> str:
        return tagged_key(self._prefix, "controls")

    async def current_version(self) -> int | None:
        value = await self._call(lambda: self._client.get(self._key("current")))
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise SnapshotError(f"{self._key('current')} holds {value!r}, not a model version") from None

    async def load(self, version: int) -> ModelSnapshot:
        text = await self._call(lambda: self._client.get(self._key(version)))
        if text is None:
            raise SnapshotError(f"model version {version} is not in Redis")
        return ModelSnapshot.from_json(text)

    async def publish(self, snapshot: ModelSnapshot, *, despite_pin: bool = False) -> None:
        status, current = await self._call(
            lambda: self._publish(
                keys=[self._key(snapshot.version), self._key("current"), self._history, self._controls],
                args=[snapshot.version, snapshot.model_dump_json(), self.channel, int(despite_pin)],
            )
        )
        if int(status) == 0:
            raise StaleModelError(f"model version {snapshot.version} is not newer than the current {int(current)}")
        if int(status) == -1:
            raise StaleModelError(f"model version {snapshot.version} already exists and versions are immutable")
        if int(status) == -2:
            raise PinnedError(f"version {int(current)} is pinned: nothing is promoted until `segmenter unpin`")

    async def history(self, limit: int = 100) -> list[int]:
        return [int(v) for v in await self._call(lambda: self._client.lrange(self._history, -limit, -1))]

    async def controls(self) -> Controls:
        stored = await self._call(lambda: self._client.hgetall(self._controls))
        return Controls(*(int(stored[f]) if stored.get(f) else None for f in ("pinned", "k")))

    async def set_controls(self, controls: Controls, revision: int | None = None) -> None:
        """Set the controls, stamped with `revision` (now in milliseconds unless given) for the registry."""
        revision = revision or int(time.time() * 1000)
        fields = {"pinned": controls.pinned, "k": controls.k, "revision": revision}
        gone = [name for name, value in fields.items() if value is None]
        kept = {name: value for name, value in fields.items() if value is not None}

        async def write() -> None:
            async with self._client.pipeline(transaction=True) as pipe:
                if gone:
                    pipe.hdel(self._controls, *gone)
                if kept:
                    pipe.hset(self._controls, mapping=kept)  # type: ignore[arg-type]
                await pipe.execute()

        await self._call(write)

    async def revision(self) -> int | None:
        """The revision of the controls; 0 for controls set before revisions, None for none."""
        stored = await self._call(lambda: self._client.hgetall(self._controls))
        return int(stored.get("revision", 0)) if stored else None

    async def notices(self) -> AsyncIterator[int]:
        """Versions announced on the channel, as they come; ends when the connection drops."""
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await initialized(self._client)
            await pubsub.subscribe(self.channel)
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                try:
                    yield int(message["data"])
                except ValueError:
                    log.warning("ignored a notice on %s that is not a version: %.80r", self.channel, message["data"])
        except REDIS_ERRORS as error:
            raise ServiceUnavailableError(f"Redis: {error}") from error
        finally:
            await pubsub.aclose()


class InMemoryModelStore:
    """The same contract in memory, for unit tests of the logic around a store. Each `notices()` iterator
    hears every later publish, as a pub/sub subscriber would; set `reachable` to False to play an outage."""

    def __init__(self) -> None:
        self._models: dict[int, ModelSnapshot] = {}
        self._current: int | None = None
        self._listeners: set[asyncio.Queue[int]] = set()
        self._history: list[int] = []
        self._controls = Controls()
        self.reachable = True

    @property
    def subscribers(self) -> int:
        """How many `notices()` iterators are listening."""
        return len(self._listeners)

    def _check(self) -> None:
        if not self.reachable:
            raise ServiceUnavailableError("in-memory store: unreachable")

    async def current_version(self) -> int | None:
        self._check()
        return self._current

    async def load(self, version: int) -> ModelSnapshot:
        self._check()
        if version not in self._models:
            raise SnapshotError(f"model version {version} is not in the store")
        return self._models[version]

    async def publish(self, snapshot: ModelSnapshot, *, despite_pin: bool = False, announce: bool = True) -> None:
        """Store and point at `snapshot`; `announce=False` plays a lost notice (pub/sub is fire-and-forget)."""
        self._check()
        if self._current is not None and snapshot.version <= self._current:
            raise StaleModelError(f"model version {snapshot.version} is not newer than the current {self._current}")
        if self._controls.pinned is not None and not despite_pin:
            raise PinnedError(f"version {self._controls.pinned} is pinned")
        self._models[snapshot.version] = snapshot
        self._current = snapshot.version
        self._history = [*self._history, snapshot.version][-HISTORY_KEPT:]
        for listener in self._listeners if announce else ():
            listener.put_nowait(snapshot.version)

    async def history(self, limit: int = 100) -> list[int]:
        self._check()
        return self._history[-limit:]

    async def controls(self) -> Controls:
        self._check()
        return self._controls

    async def set_controls(self, controls: Controls) -> None:
        self._check()
        self._controls = controls

    async def notices(self) -> AsyncIterator[int]:
        self._check()
        listener: asyncio.Queue[int] = asyncio.Queue()
        self._listeners.add(listener)
        try:
            while True:
                yield await listener.get()
        finally:
            self._listeners.discard(listener)
