"""Publishing a model (current in Redis, atomically, versions only forward, and written to the registry topic) and
announcing model events on the models topic."""

import time
from functools import partial

from aiokafka.errors import KafkaError

from models.control import ModelEvent
from models.settings import Settings
from models.snapshot import ModelSnapshot
from streams.clients import ensure_topics, kafka_producer, redis_client
from streams.exceptions import ServiceUnavailableError
from streams.model_plane.events import promote
from streams.model_plane.mirrored import MirroredModelStore
from streams.model_plane.registry import read_registry, send

__all__ = ["announce", "next_version", "publish_model"]


def next_version(current: int | None) -> int:
    """A version newer than `current`: the time in milliseconds, or one more if that is not newer."""
    return max(int(time.time() * 1000), (current or 0) + 1)


async def announce(settings: Settings, event: ModelEvent) -> None:
    """Send `event` to the models topic (keyed by its version, so one model's events stay in order)."""
    async with kafka_producer(settings) as producer:
        try:
            await producer.send_and_wait(
                settings.models_topic,
                event.model_dump_json(exclude_none=True).encode(),
                key=str(event.version or "").encode() or None,
            )
        except KafkaError as error:
            raise ServiceUnavailableError(f"announcing on {settings.models_topic} failed: {error!r}") from error


async def publish_model(settings: Settings, snapshot: ModelSnapshot) -> None:
    """Make `snapshot` the current model (`segmenter publish`) and announce it as promoted (the models topic
    is created first if missing, so that no broker auto-creates it with its own partition count)."""
    await ensure_topics(settings)
    client = redis_client(settings)
    try:
        async with kafka_producer(settings) as producer:
            store = MirroredModelStore(
                client, settings.redis_key_prefix, partial(send, producer, settings.registry_topic)
            )
            previous = await store.current_version()
            if previous is None:  # Redis may have lost the models: put them back first, so versions only go forward
                registry = await read_registry(settings)
                if registry.newest is not None:
                    await store.restore(registry.models, registry.newest, registry.controls)
                    previous = registry.newest
            event = await promote(store, None, snapshot, cause="publish", previous_version=previous)
    finally:
        await client.aclose()
    try:
        await announce(settings, event)
    except ServiceUnavailableError as error:
        raise ServiceUnavailableError(f"model {snapshot.version} is current in Redis; {error}") from error
