"""Producing a routed batch: one aiokafka record batch per topic and partition, each output on the
partition number of the input it answers (so per-lead order carries over from the input topic)."""

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

import mode
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from models.settings import Settings
from streams.clients.kafka import aiokafka_security, bootstrap_servers
from streams.clients.kafka_backoff import back_off_metadata_retries
from streams.clients.records import Outgoing

__all__ = ["KafkaOutbox", "Outbox", "PRODUCER_OPTIONS", "produce"]

# Batches of up to 512 KiB, half the broker's default message limit, so that a full batch is always
# accepted. The batches are built here and closed, so the producer sends them at once (no linger).
PRODUCER_OPTIONS: dict[str, Any] = {"acks": "all", "max_batch_size": 524_288}


class Outbox(Protocol):
    async def deliver(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        """Send every message and wait for the broker; per message, the error or None if acknowledged."""
        ...


class KafkaOutbox(mode.Service):
    """`Outbox` over the worker's aiokafka producer, sending record batches rather than single messages."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self._settings = settings
        self._producer: AIOKafkaProducer

    async def on_start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers(self._settings),
            request_timeout_ms=30_000,
            **PRODUCER_OPTIONS | aiokafka_security(self._settings),
        )
        back_off_metadata_retries(self._producer.client)
        await self._producer.start()

    async def on_stop(self) -> None:
        await self._producer.stop()

    async def deliver(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        return await produce(self._producer, messages)


async def produce(producer: AIOKafkaProducer, messages: Sequence[Outgoing]) -> list[BaseException | None]:
    """Send `messages` through `producer` in record batches and wait for the broker; per message, the error or
    None if acknowledged."""
    groups: dict[tuple[str, int], list[int]] = {}
    for i, message in enumerate(messages):
        groups.setdefault((message.topic, message.source.partition), []).append(i)
    results: list[BaseException | None] = [None] * len(messages)
    # One task per topic-partition: batches of one partition go in order, and a topic whose metadata
    # is missing (deleted, say) holds up only its own messages.
    sent = await asyncio.gather(*[_submit(producer, messages, indices, *tp) for tp, indices in groups.items()])
    for chunk, future in (pair for pairs in sent for pair in pairs):
        try:
            await future
        except KafkaError as error:
            for i in chunk:
                results[i] = error
    return results


async def _submit(
    producer: AIOKafkaProducer, messages: Sequence[Outgoing], indices: list[int], topic: str, partition: int
) -> list[tuple[list[int], Any]]:
    """Hand one partition's batches to the producer; per batch, its messages and its delivery future."""
    submitted: list[tuple[list[int], Any]] = []
    for chunk, batch in _batches(producer, messages, indices):
        batch.close()  # an open batch would wait out the producer's linger for records that never come
        try:
            submitted.append((chunk, await producer.send_batch(batch, topic, partition=partition)))
        except KafkaError as error:
            failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            failed.set_exception(error)
            submitted.append((chunk, failed))
    return submitted


def _batches(
    producer: AIOKafkaProducer, messages: Sequence[Outgoing], indices: list[int]
) -> list[tuple[list[int], Any]]:
    """Fill record batches in order; a record larger than a batch goes alone in its own."""
    batches: list[tuple[list[int], Any]] = []
    chunk: list[int] = []
    batch = producer.create_batch()
    for i in indices:
        m = messages[i]
        if batch.append(timestamp=None, key=m.key, value=m.value, headers=m.headers) is None:
            batches.append((chunk, batch))
            chunk, batch = [], producer.create_batch()
            batch.append(timestamp=None, key=m.key, value=m.value, headers=m.headers)  # an empty batch takes any
        chunk.append(i)
    if chunk:
        batches.append((chunk, batch))
    return batches
