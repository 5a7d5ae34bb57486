"""Kafka plumbing for bench/throughput.py: topics, loading the input, pacing, and reading the output."""

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

__all__ = ["Outputs", "create_topics", "delete_topics", "preload", "produce_paced"]

Record = tuple[bytes, bytes]


async def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    """Create each topic with its partition count (never leave it to the broker's auto-create)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=30_000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, n, 1) for name, n in topics.items()])
        deadline = time.monotonic() + 20
        while True:  # a new topic's metadata may take a moment to spread
            described = await admin.describe_topics(list(topics))
            if all(not d["error_code"] and len(d["partitions"]) == topics[d["topic"]] for d in described):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"topics not ready: {described}")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, topics: Sequence[str]) -> None:
    """Free the broker's memory after a run; a broker that cannot delete topics keeps them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=30_000)
    await admin.start()
    try:
        with contextlib.suppress(Exception):  # best effort: nothing depends on it
            await admin.delete_topics(list(topics))
    finally:
        await admin.close()


def _producer(bootstrap: str, **options: int) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", **options)


async def preload(bootstrap: str, topic: str, records: Sequence[Record]) -> float:
    """Send every record as fast as the broker takes them (acks=all); returns the seconds it took."""
    start = time.perf_counter()
    producer = _producer(bootstrap, linger_ms=5, max_batch_size=262_144)
    await producer.start()
    try:
        pending = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - start


async def produce_paced(
    bootstrap: str, topic: str, records: Sequence[Record], rate: float
) -> tuple[dict[bytes, float], dict[bytes, float]]:
    """Send the records at `rate` per second; returns each key's send time (`time.time()`, just before
    the record is handed to the producer) and when the broker acknowledged it (acks=all): the second minus
    the first is one produce round trip, a part of every variant's latency."""
    sent: dict[bytes, float] = {}
    acked: dict[bytes, float] = {}
    producer = _producer(bootstrap)
    await producer.start()
    try:
        pending = []
        start = time.perf_counter()
        for i, (key, value) in enumerate(records):
            delay = start + i / rate - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            sent[key] = time.time()
            future = await producer.send(topic, value, key=key)
            future.add_done_callback(lambda _, key=key: acked.__setitem__(key, time.time()))
            pending.append(future)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent, acked


@dataclass
class Outputs:
    """Reads a topic from its start in the background and keeps, per key, the record's broker
    timestamp (ms, CreateTime: when the variant produced it), when we received it, and its value."""

    bootstrap: str
    topic: str
    seen: dict[bytes, tuple[int, float, bytes]] = field(default_factory=dict)
    total: int = 0
    counts: Counter[bytes] = field(default_factory=Counter)  # distinct keys by their first byte
    isolation_level: str = "read_uncommitted"  # read_committed: what a reader of transactional outputs sees
    from_end: bool = False  # read only what is written after the reader is positioned (when entered)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "Outputs":
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap.split(","),
            group_id=None,
            auto_offset_reset="latest" if self.from_end else "earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=5,  # Tansu holds a fetch for its whole max wait: keep ours short
            isolation_level=self.isolation_level,
        )
        await consumer.start()
        if self.from_end:
            deadline = time.monotonic() + 20
            while not consumer.assignment():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no partition of {self.topic} assigned")
                await asyncio.sleep(0.05)
            for tp in consumer.assignment():
                await consumer.position(tp)  # the end, resolved now: nothing written later is missed
        self._task = asyncio.create_task(self._read(consumer))
        return self

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                now = time.time()
                for messages in batches.values():
                    self.total += len(messages)
                    for m in messages:
                        if m.key is not None and m.key not in self.seen:
                            self.seen[m.key] = (m.timestamp, now, m.value or b"")
                            self.counts[m.key[:1]] += 1
        finally:
            await consumer.stop()

    def check(self) -> None:
        """Raise what stopped the reader, if anything did."""
        if self._task is not None and self._task.done():
            self._task.result()

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
