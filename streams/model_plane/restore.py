"""Keeping Redis and the registry topic in step: every worker compares the two each second, puts back into Redis
what it lost (flushed, restarted empty, replaced by an empty instance) and copies to the topic what a write to it
missed. The decision is `plan`, pure; the putting back is the store's atomic, forward-only restore, so two workers
restoring at once, or a restore racing a publish, can never move the pointer back."""

import asyncio
import logging
from dataclasses import dataclass

import mode

from streams.exceptions import ServiceUnavailableError
from streams.model_plane.mirrored import MirroredModelStore
from streams.model_plane.registry import KafkaRegistry, controls_record, model_key, model_record
from streams.model_plane.serving import ModelHolder
from streams.model_plane.store import HISTORY_KEPT, StoredControls

__all__ = ["Copy", "Plan", "RegistryKeeper", "plan"]

log = logging.getLogger(__name__)

_CATCH_UP_SECONDS = 60


@dataclass(frozen=True)
class Copy:
    """What one copy holds, as far as the decision goes: its current version and its controls' revision."""

    current: int | None
    revision: int | None


@dataclass(frozen=True)
class Plan:
    restore_pointer: bool = False  # Redis lost the current version, or holds an older one
    restore_history: bool = False  # Redis lost older versions and the history (a publish came first)
    restore_controls: bool = False  # Redis lost the controls, or holds older ones
    copy_served: bool = False  # this worker serves a version the topic lacks
    copy_models: bool = False  # Redis has versions the topic lacks: a write to the topic failed
    copy_controls: bool = False  # Redis has newer controls than the topic

    @property
    def restores(self) -> bool:
        return self.restore_pointer or self.restore_history or self.restore_controls


def plan(redis: Copy, registry: Copy, *, served: int | None = None, history_complete: bool = True) -> Plan:
    """What to put back into Redis and what to copy to the registry topic. Each side is only ever moved forward:
    to the other's newer version, or to its controls of a higher revision.

    >>> plan(Copy(None, None), Copy(7, 3)).restores
    True
    >>> plan(Copy(8, 3), Copy(7, 3)).copy_models
    True
    """

    def newer(a: int | None, b: int | None) -> bool:
        return a is not None and (b is None or a > b)

    pointer = newer(registry.current, redis.current)
    return Plan(
        restore_pointer=pointer,
        restore_history=pointer or (registry.current is not None and not history_complete),
        restore_controls=newer(registry.revision, redis.revision),
        copy_served=newer(served, registry.current),
        copy_models=newer(redis.current, registry.current),
        copy_controls=newer(redis.revision, registry.revision),
    )


class RegistryKeeper(mode.Service):
    """Compares Redis with the registry topic every `check_seconds` and carries out the `plan`: first once the
    topic is read at start (so a worker started against an empty Redis finds the current model there before it
    serves), then on a timer. An outage of either is said once; the worker serves what it holds meanwhile."""

    def __init__(
        self, store: MirroredModelStore, registry: KafkaRegistry, holder: ModelHolder, *, check_seconds: float
    ) -> None:
        super().__init__()
        self._store = store
        self._registry = registry
        self._holder = holder
        self._check_seconds = check_seconds
        self._problem: str | None = None

    async def on_start(self) -> None:
        try:
            await asyncio.wait_for(self._registry.caught_up.wait(), _CATCH_UP_SECONDS)
        except TimeoutError:
            log.warning("registry topic not read within %ss: Redis is checked against it once it is", _CATCH_UP_SECONDS)
            return
        await self.check()

    @mode.Service.task
    async def _every(self) -> None:
        while not self.should_stop:
            await self.sleep(self._check_seconds)
            if self._registry.caught_up.is_set():
                await self.check()

    async def check(self) -> Plan | None:
        """Compare and act; the plan carried out, None if Redis or Kafka did not answer."""
        try:
            done = await self._check()
        except ServiceUnavailableError as error:
            if str(error) != self._problem:
                log.warning("registry check postponed: %s", error)
            self._problem = str(error)
            return None
        self._problem = None
        return done

    async def _check(self) -> Plan:
        topic, store = self._registry.contents, self._store
        redis = Copy(await store.current_version(), await store.revision())
        registry = Copy(topic.newest, topic.controls.revision if topic.controls else None)
        complete = await store.has_history(min(len(topic.models), HISTORY_KEPT))
        todo = plan(redis, registry, served=self._holder.version, history_complete=complete)
        served = self._holder.model
        if todo.copy_served and served is not None:
            await self._registry.write(*model_record(served.snapshot))
        if todo.copy_models:
            for version in await store.history(HISTORY_KEPT):
                if version not in topic.models and (text := await store.raw(version)) is not None:
                    await self._registry.write(model_key(version), text)
        if todo.copy_controls and redis.revision is not None:
            await self._registry.write(*controls_record(StoredControls(await store.controls(), redis.revision)))
        if todo.restores:
            moved, replaced = await store.restore(
                dict(topic.models), topic.newest, topic.controls if todo.restore_controls else None
            )
            log.warning(
                "Redis had lost the model registry (pointer %s, registry %s): put back from %s: %s versions%s%s",
                redis.current, topic.newest, self._registry.topic, len(topic.models),
                f", version {topic.newest} current" if moved else "", ", controls" if replaced else "",
            )  # fmt: skip
        return todo
