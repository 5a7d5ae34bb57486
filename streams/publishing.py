"""Publishing a model: current in Redis (atomically, versions only forward), then announced on Kafka."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from models.settings import Settings
from models.snapshot import ModelSnapshot
from streams.exceptions import ServiceUnavailableError
from streams.kafka import aiokafka_security, bootstrap_servers, ensure_topics
from streams.store import RedisModelStore, redis_client

__all__ = ["kafka_producer", "publish_model"]


@asynccontextmanager
async def kafka_producer(settings: Settings, **options: object) -> AsyncIterator[AIOKafkaProducer]:
    """A started aiokafka producer (acks=all); connection failures become `ServiceUnavailableError`."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(settings), acks="all", request_timeout_ms=15_000,
        **aiokafka_security(settings) | options,
    )  # fmt: skip
    try:
        await producer.start()
    except KafkaError as error:
        await producer.stop()
        raise ServiceUnavailableError(f"Kafka at {settings.kafka_bootstrap}: {error!r}") from error
    try:
        yield producer
    finally:
        await producer.stop()


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
