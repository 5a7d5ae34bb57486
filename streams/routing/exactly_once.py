"""The `batch` engine under exactly_once: each fetch split by input partition, each partition's batch routed in
that partition's own transaction (outputs, dead letters and its input offset), one after the other (the router's
Redis users expect one batch at a time). The consumer reads the leads with read_committed and never commits offsets
itself."""

import asyncio
import logging
from collections.abc import Callable

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced

from models.settings import Settings
from streams.clients import PartitionTransactions
from streams.exceptions import PartitionLostError, ServiceUnavailableError
from streams.routing.batch_engine import BatchEngine
from streams.routing.replay_safe import ReplaySafeSegments
from streams.routing.router import BatchRouter

__all__ = ["ExactlyOnceEngine"]

log = logging.getLogger(__name__)

_FIRST_BACKOFF = 0.5
_MAX_BACKOFF = 5.0
# What fails one partition's batch: its transaction is aborted and the batch routed again once the partition is
# taken again (a new producer, the offsets committed read back).
_BATCH_FAILURES = (KafkaError, ServiceUnavailableError, PartitionLostError)


class ExactlyOnceEngine(BatchEngine):
    """Nothing of a batch is visible to a read_committed reader, nor its offsets committed, unless all of it is."""

    isolation_level = "read_committed"

    def __init__(
        self,
        settings: Settings,
        router: BatchRouter,
        app_stopping: Callable[[], bool],
        segments: ReplaySafeSegments,
    ) -> None:
        super().__init__(settings, router, app_stopping)
        self._transactions = PartitionTransactions(settings, group_id=settings.app_id)
        self._segments = segments
        self._next: dict[TopicPartition, int] = {}  # per partition taken: the offset its next batch must start at
        self._broken: set[TopicPartition] = set()  # a transaction not aborted: taken again (new producer) first
        self._backoff: dict[TopicPartition, float] = {}  # after a failed batch: the wait before the next

    async def on_stop(self) -> None:
        await self._consumer.stop()
        await self._transactions.stop()

    async def committed(self) -> None:
        """Nothing travels after a batch: its commit is part of routing it."""

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        self._consumer.resume(*partitions)  # paused if fenced while held before
        self._broken -= partitions
        try:
            await self._take(sorted(partitions))
        except _BATCH_FAILURES as error:  # taken again before their first batch
            log.warning("partitions not taken over yet (%r): trying again before their first batch", error)
            self._broken |= partitions

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            self._next.pop(tp, None)
        await self._transactions.release(sorted(partitions))

    async def _take(self, partitions: list[TopicPartition]) -> None:
        """Fence the partitions' old producers, then read from the offsets committed (final once fenced)."""
        await self._transactions.hold(partitions)
        self._segments.fence_anew((tp.topic, tp.partition) for tp in partitions)
        for tp in partitions:
            if (offset := await self._consumer.committed(tp)) is None:
                await self._consumer.seek_to_beginning(tp)
                offset = await self._consumer.position(tp)
            else:
                self._consumer.seek(tp, offset)
            self._next[tp] = offset

    async def _process(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        for tp, records in fetched.items():
            self.uncommitted -= len(records)  # committed with their batch, or read again
            try:
                await self._route_partition(tp, records)
            except _BATCH_FAILURES as error:
                await self._failed(tp, error)
            else:
                self._backoff.pop(tp, None)
        if backoffs := [self._backoff[tp] for tp in fetched if tp in self._backoff]:
            await asyncio.sleep(min(backoffs))

    async def _route_partition(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        if tp in self._broken:
            await self._take([tp])
            self._broken.discard(tp)
            return  # the batch in hand may start past the offsets committed: read again from them
        expected = self._next.get(tp)
        if expected is None:
            return  # fetched while the partition is being taken (the take seeks it), or after it was lost
        if records[0].offset < expected:  # fetched before the take's seek, from an older position
            self._consumer.seek(tp, expected)
            return
        try:
            await self._router.route(records, self._stopping, self._transactions.outbox(tp, records[-1].offset + 1))
        except _BATCH_FAILURES:
            self._consumer.seek(tp, expected)  # local: nobody committed past it, or this producer is fenced
            raise
        self._next[tp] = self._positions[tp] = records[-1].offset + 1

    async def _failed(self, tp: TopicPartition, error: BaseException) -> None:
        """After a failed batch: its transaction aborted on the same producer (a new producer only if that fails:
        taking the partition again would fence its new owner if the group had moved it), or the partition given up
        if this producer was fenced."""
        if not isinstance(error, PartitionLostError | ProducerFenced) and tp not in self._broken:
            try:
                await self._transactions.abort(tp)
            except PartitionLostError as lost:
                error = lost
            except KafkaError:
                self._broken.add(tp)
        if isinstance(error, PartitionLostError | ProducerFenced):
            log.warning("%s; not read again until the group assigns it here again", error)
            self._next.pop(tp, None)
            self._consumer.pause(tp)
            return
        backoff = self._backoff.get(tp)
        if backoff is None:
            log.warning("batch of %s/%s aborted (%r): routing it again", tp.topic, tp.partition, error)
        self._backoff[tp] = min(2 * backoff, _MAX_BACKOFF) if backoff else _FIRST_BACKOFF
