"""Publishing a model: current in Redis (atomically, versions only forward), then announced on Kafka."""

import json
from datetime import UTC, datetime

from aiokafka.errors import KafkaError

from models.settings import Settings
from models.snapshot import ModelSnapshot
from streams.exceptions import ServiceUnavailableError
from streams.kafka import ensure_topics, kafka_producer
from streams.store import RedisModelStore, redis_client

__all__ = ["publish_model"]


async def publish_model(settings: Settings, snapshot: ModelSnapshot) -> None:
    """Make `snapshot` the current model and announce it on the models topic (created first if
    missing, so that no broker auto-creates it with its own partition count)."""
    await ensure_topics(settings)
    client = redis_client(settings)
    try:
        await RedisModelStore(client, settings.redis_key_prefix).publish(snapshot)
    finally:
        await client.aclose()
    version = snapshot.version
    announcement = {
        "version": version,
        "segments": len(snapshot.segments),
        "published_at": datetime.now(UTC).isoformat(),
    }
    async with kafka_producer(settings) as producer:
        try:
            await producer.send_and_wait(
                settings.models_topic, json.dumps(announcement).encode(), key=str(version).encode()
            )
        except KafkaError as error:
            raise ServiceUnavailableError(
                f"model {version} is current in Redis; announcing it on {settings.models_topic} failed: {error!r}"
            ) from error
