"""Exactly-once's producers: one transactional producer per input partition, so that a partition's new owner
fences its old one. aiokafka speaks the first transaction protocol versions only (no consumer group generation in
`TxnOffsetCommit`, aiokafka #844): the producer epoch of a transactional id is the only fence, and a worker that lost
a partition can commit nothing more for it because the new owner's producer took that partition's id first."""

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced

from models.settings import Settings
from streams.clients.kafka import aiokafka_security, bootstrap_servers
from streams.clients.kafka_backoff import back_off_metadata_retries, retry_soon_while_markers_are_written
from streams.clients.outbox import PRODUCER_OPTIONS, produce
from streams.clients.records import Outgoing
from streams.exceptions import PartitionLostError, ServiceUnavailableError

__all__ = ["PartitionTransactions", "check_transactions", "transactional_id"]

log = logging.getLogger(__name__)

# The broker aborts a transaction left open this long (a worker killed mid-batch): its partition's new owner waits
# for that abort only if it comes back before a new producer fences the id, which it does at once.
_TRANSACTION_TIMEOUT_MS = 60_000


def transactional_id(settings: Settings, tp: TopicPartition) -> str:
    """One id per input partition, the same in every worker (Faust derives its own the same way)."""
    return f"{settings.app_id}-{tp.topic}-{tp.partition}"


def _producer(settings: Settings, transactional: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(settings),
        request_timeout_ms=30_000,
        transactional_id=transactional,
        transaction_timeout_ms=_TRANSACTION_TIMEOUT_MS,
        enable_idempotence=True,
        **PRODUCER_OPTIONS | aiokafka_security(settings),
    )
    back_off_metadata_retries(producer.client)
    retry_soon_while_markers_are_written()
    return producer


async def check_transactions(settings: Settings, timeout: float = 15) -> None:
    """Raise `ServiceUnavailableError` in one line if the broker cannot run transactions (Tansu, the embedded
    broker of `segmenter demo`, cannot)."""
    producer = _producer(settings, f"{settings.app_id}-probe")
    try:
        await asyncio.wait_for(producer.start(), timeout)
        await asyncio.wait_for(producer.begin_transaction(), timeout)  # waits for the producer id: InitProducerId
    except (KafkaError, TimeoutError) as error:
        raise ServiceUnavailableError(
            f"Kafka at {settings.kafka_bootstrap} cannot run transactions ({error!r}): "
            "SEGMENTER_PROCESSING_GUARANTEE=exactly_once needs Apache Kafka or a broker with transactions "
            "(the embedded broker has none: use at_least_once there)"
        ) from error
    finally:
        await producer.stop()


class PartitionTransactions:
    """The producers of the input partitions this worker holds, each with a transaction begun. A batch of one
    input partition is produced in that partition's transaction, with its input offsets, then committed."""

    def __init__(self, settings: Settings, group_id: str) -> None:
        self._settings = settings
        self._group_id = group_id
        self._producers: dict[TopicPartition, AIOKafkaProducer] = {}

    async def hold(self, partitions: Sequence[TopicPartition]) -> None:
        """Take `partitions` over, or take them again after a failed batch: a new producer each, whose id is fenced
        (the previous producer's open transaction aborted) before this returns, so that the committed offsets read
        after it are final."""
        await asyncio.gather(*[self._begin_new(tp) for tp in partitions])

    async def release(self, partitions: Sequence[TopicPartition]) -> None:
        """Give `partitions` up (their batch in flight finished): open transactions are empty, so just stop."""
        producers = [self._producers.pop(tp) for tp in partitions if tp in self._producers]
        await asyncio.gather(*[producer.stop() for producer in producers])

    def outbox(self, tp: TopicPartition, next_offset: int) -> "PartitionTransaction":
        """The transaction for one batch of `tp`, whose last input is `next_offset - 1`."""
        if tp not in self._producers:
            raise PartitionLostError(f"{tp.topic}/{tp.partition} is no longer held by this worker")
        return PartitionTransaction(self, tp, self._producers[tp], next_offset)

    async def _begin_new(self, tp: TopicPartition) -> None:
        await self.release([tp])
        producer = _producer(self._settings, transactional_id(self._settings, tp))
        try:
            await producer.start()
            await producer.begin_transaction()  # waits for InitProducerId: the fence
        except BaseException:
            await producer.stop()
            raise
        self._producers[tp] = producer

    async def abort(self, tp: TopicPartition) -> None:
        """Abort `tp`'s transaction and begin another on the same producer: nobody else is fenced. Raises
        `PartitionLostError` if this producer was fenced, a `KafkaError` if the broker did not answer."""
        if (producer := self._producers.get(tp)) is None:
            raise PartitionLostError(f"{tp.topic}/{tp.partition} is no longer held by this worker")
        try:
            await producer.abort_transaction()
            await producer.begin_transaction()
        except ProducerFenced as fenced:
            await self.release([tp])
            raise PartitionLostError(f"{tp.topic}/{tp.partition}: {fenced!r}") from fenced

    async def stop(self) -> None:
        await self.release(list(self._producers))

    @property
    def group_id(self) -> str:
        return self._group_id


class PartitionTransaction:
    """`Outbox` for one batch of one input partition: every attempt at delivering it sends the batch's input
    offset first (before the records: aiokafka #1004 on Kafka ≥ 3.7), then the records; a failed attempt aborts
    the transaction and begins another, so that the next attempt starts clean (`deliver` sends all again). A
    fenced producer raises `PartitionLostError`: another worker holds the partition now."""

    def __init__(
        self, transactions: PartitionTransactions, tp: TopicPartition, producer: AIOKafkaProducer, next_offset: int
    ) -> None:
        self._transactions = transactions
        self._tp = tp
        self._producer = producer
        self._offsets = {tp: next_offset}

    async def deliver(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        try:
            # One call per transaction, awaited before anything else is sent on this producer (aiokafka #1098).
            await self._producer.send_offsets_to_transaction(self._offsets, self._transactions.group_id)
            results = await produce(self._producer, messages)
            if fenced := next((error for error in results if isinstance(error, ProducerFenced)), None):
                raise fenced
            if any(error is not None for error in results):
                await self._producer.abort_transaction()
                await self._producer.begin_transaction()
        except ProducerFenced as fenced:
            raise await self._lost(fenced) from fenced
        return results

    async def commit(self) -> None:
        """Commit the batch's outputs and input offset; raises `PartitionLostError` if another worker fenced it."""
        try:
            await self._producer.commit_transaction()
        except ProducerFenced as fenced:
            raise await self._lost(fenced) from fenced
        await self._producer.begin_transaction()

    async def _lost(self, fenced: ProducerFenced) -> PartitionLostError:
        await self._transactions.release([self._tp])
        return PartitionLostError(f"{self._tp.topic}/{self._tp.partition}: {fenced!r}")
