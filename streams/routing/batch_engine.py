"""The `batch` engine: the leads topic read by a plain aiokafka consumer, a `getmany` at a time."""

import asyncio
import logging
from collections.abc import Callable

import mode
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError

from models.settings import Settings
from streams.clients import aiokafka_security, back_off_metadata_retries, bootstrap_servers
from streams.exceptions import WorkerStoppingError
from streams.routing.router import BatchRouter

__all__ = ["BatchEngine"]

log = logging.getLogger(__name__)


class _FinishBatchFirst(ConsumerRebalanceListener):  # type: ignore[misc]
    """Holds a rebalance until the batch in flight is delivered and committed, so that partitions
    move with their offsets up to date instead of having the new owner route that batch again."""

    def __init__(self, engine: "BatchEngine") -> None:
        self._engine = engine

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._engine.in_flight:
            await self._engine.committed()
            await self._engine.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._engine.assigned(assigned)
        self._engine.joined = True
        log.info(
            "partitions assigned: %s", ", ".join(sorted(f"{tp.topic}/{tp.partition}" for tp in assigned)) or "none"
        )


class BatchEngine(mode.Service):
    """Each `getmany` is one batch for the router; its offsets are committed only after the router
    returns, that is after every output and dead letter of the batch is acknowledged."""

    isolation_level = "read_uncommitted"

    def __init__(self, settings: Settings, router: BatchRouter, app_stopping: Callable[[], bool]) -> None:
        super().__init__()
        self._settings = settings
        self._router = router
        self._stopping = lambda: self.should_stop or app_stopping()
        self.in_flight = asyncio.Lock()
        self._commit_sent: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer
        self.joined = False  # the group was joined at least once (partitions assigned, possibly none)
        self._positions: dict[TopicPartition, int] = {}  # next offset to route, per partition
        self.uncommitted = 0  # leads read whose offsets are not committed yet

    async def on_start(self) -> None:
        s = self._settings
        session_ms = int(s.kafka_session_timeout_seconds * 1000)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(s),
            group_id=s.app_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(session_ms // 6, 500),
            rebalance_timeout_ms=max(session_ms, 10_000),
            max_poll_records=s.batch_size,
            fetch_max_wait_ms=int(s.batch_max_latency_ms),
            isolation_level=self.isolation_level,
            max_partition_fetch_bytes=max(1_048_576, s.max_event_bytes * 4),
            **aiokafka_security(s),
        )
        back_off_metadata_retries(self._consumer._client)
        self._consumer.subscribe([s.leads_topic], listener=_FinishBatchFirst(self))
        await self._consumer.start()

    async def on_stop(self) -> None:
        await self.committed()
        await self._consumer.stop()

    @mode.Service.task
    async def _consume(self) -> None:
        timeout_ms = int(self._settings.batch_max_latency_ms)
        while not self.should_stop:
            try:
                fetched = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=self._settings.batch_size)
            except ConsumerStoppedError:
                return
            if not fetched:
                continue
            self.uncommitted += sum(len(records) for records in fetched.values())
            async with self.in_flight:
                try:
                    await self._process(fetched)
                except WorkerStoppingError as stopping:
                    log.info("%s", stopping)
                    return

    async def _process(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Route one fetch as one batch and commit its offsets."""
        raws = [record for records in fetched.values() for record in records]
        await self._router.route(raws, self._stopping)
        # The next batch is fetched and routed while this commit travels; commits go one at a time, in order.
        await self.committed()
        positions = {tp: records[-1].offset + 1 for tp, records in fetched.items()}
        self._positions.update(positions)
        self._commit_sent = asyncio.create_task(self._commit(positions, len(raws)))

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        """Partitions just assigned, before any of their records is fetched."""

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Partitions just revoked, their batch in flight finished."""

    def lag(self) -> dict[tuple[str, int], int]:
        """Records not yet routed per partition held, as far as the last fetch told (`metrics.LagSource`)."""
        lags = {}
        for tp in self._consumer.assignment():
            highwater, position = self._consumer.highwater(tp), self._positions.get(tp)
            if highwater is not None and position is not None:
                lags[tp.topic, tp.partition] = max(highwater - position, 0)
        return lags

    async def committed(self) -> None:
        """Wait for the last commit sent, if any; a failure `_commit` does not log is raised here."""
        sent, self._commit_sent = self._commit_sent, None
        if sent is not None:
            await asyncio.wait([sent])
            if not sent.cancelled():
                sent.result()

    async def _commit(self, offsets: dict[TopicPartition, int], leads: int) -> None:
        # Bounded: a commit in flight when the broker went away was seen to wait forever, stalling the loop.
        try:
            await asyncio.wait_for(self._consumer.commit(offsets), self._settings.kafka_session_timeout_seconds)
            self.uncommitted -= leads
        except (KafkaError, TimeoutError) as error:  # e.g. the partitions moved: their new owner routes them again
            log.warning("offsets of a routed batch not committed (%r): its leads may be routed again", error)
