"""Load on a running worker and measurements around it: a background producer, end offsets, group lag."""

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

__all__ = [
    "MAX_REQUEST_BYTES",
    "LagSampler",
    "Placement",
    "Probe",
    "Record",
    "Stream",
    "holds_for",
    "send_all",
]

Record = tuple[bytes | None, bytes | None]  # key, value
Placement = tuple[int, int]  # partition, offset
T = TypeVar("T")

# The tests' producer sends messages larger than the broker's default limit (about 1 MB) on purpose.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
_RATE_STEP = 100  # records between two rate checks


async def send_all(kafka: str, topic: str, records: Sequence[Record], rate: float | None = None) -> list[Placement]:
    """Send `records` in order, `rate` per second at most (unlimited when None); returns where each landed."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", max_request_size=MAX_REQUEST_BYTES, linger_ms=5)
    await producer.start()
    try:
        started, futures = time.monotonic(), []
        for i, (key, value) in enumerate(records):
            if rate and i % _RATE_STEP == 0:
                await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            futures.append(await producer.send(topic, value, key=key))
        sent = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in sent]


class Stream:
    """`send_all` in a child process, so the test can break things while leads flow. The producer is not what a
    test measures: in the test's own process it shared a garbage collector with the test (a 100 ms pause over a
    million-lead sample stopped it between stamping records and sending them, seen as routing latency)."""

    def __init__(self, kafka: str, topic: str, records: Sequence[Record], rate: float | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        self._outcome, self._child_end = context.Pipe(duplex=False)
        args = (self._child_end, kafka, topic, records, rate)
        self._child = context.Process(target=_produce, args=args, daemon=True)  # ends with the test run
        self.finished_at: float | None = None  # time.monotonic() when the last record was acknowledged

    def start(self) -> "Stream":
        """Start sending, once the child is up (importing the Kafka client there takes about a second)."""
        self._child.start()
        self._child_end.close()  # the child's copy only: its exit then ends the pipe (EOFError), not a timeout
        if self._receive(60) != "ready":
            raise AssertionError("the producer process did not start")
        return self

    def join(self, timeout: float = 300) -> list[Placement]:
        outcome = self._receive(timeout)
        self._child.join(10)
        if isinstance(outcome, AssertionError):
            raise outcome
        placements, self.finished_at = outcome
        return placements

    def _receive(self, timeout: float) -> Any:
        if not self._outcome.poll(timeout):
            self._child.kill()
            raise AssertionError(f"the producer process did not answer within {timeout}s")
        try:
            return self._outcome.recv()
        except EOFError:
            raise AssertionError(f"the producer process ended (exit code {self._child.exitcode})") from None


def _produce(outcome: Connection, kafka: str, topic: str, records: Sequence[Record], rate: float | None) -> None:
    outcome.send("ready")
    try:
        placements = asyncio.run(send_all(kafka, topic, records, rate))
    except Exception as error:  # noqa: BLE001 - handed to the test by join(), as text: it may not pickle
        outcome.send(AssertionError(f"producing failed: {error!r}"))
    else:
        outcome.send((placements, time.monotonic()))  # one monotonic clock for every process on Linux


class Probe:
    """Admin and consumer clients kept open on a loop thread of their own, for offsets asked for often."""

    def __init__(self, kafka: str) -> None:
        self._kafka = kafka
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    def __enter__(self) -> "Probe":
        self._thread.start()
        self._call(self._open())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _open(self) -> None:  # aiokafka clients must be made inside their loop
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self._kafka)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self._kafka, group_id=None)
        await self._admin.start()
        await self._consumer.start()

    async def _close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()

    def end_offsets(self, topic: str) -> dict[int, int]:
        async def ask() -> dict[int, int]:
            assert self._admin is not None and self._consumer is not None
            (description,) = await self._admin.describe_topics([topic])
            partitions = [TopicPartition(topic, p["partition"]) for p in description["partitions"]]
            return {tp.partition: end for tp, end in (await self._consumer.end_offsets(partitions)).items()}

        return self._call(ask())

    def committed(self, group: str, topic: str) -> dict[int, int]:
        async def ask() -> dict[int, int]:
            assert self._admin is not None
            offsets = await self._admin.list_consumer_group_offsets(group)
            return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}

        return self._call(ask())

    def topics(self) -> set[str]:
        """The topics the broker lists now."""

        async def ask() -> set[str]:
            assert self._admin is not None
            return set(await self._admin.list_topics())

        return self._call(ask())

    def members(self, group: str) -> int:
        """How many members `group` has once it is stable (0 while it is empty or rebalances). Stable means each
        member was given its partitions (Tansu does not report which, so the count is what both brokers show)."""

        async def ask() -> int:
            assert self._admin is not None
            responses = await self._admin.describe_consumer_groups([group])
            # each described group: error_code, group, state, protocol_type, protocol, members, ...
            return sum(len(g[5]) for response in responses for g in response.groups if g[2] == "Stable")

        return self._call(ask())

    def lag(self, group: str, topic: str) -> dict[int, int]:
        """Per partition, the messages not yet committed by `group`."""
        committed = self.committed(group, topic)
        return {p: end - max(committed.get(p, 0), 0) for p, end in self.end_offsets(topic).items()}


class LagSampler:
    """Samples a group's committed offsets and the topic's end offsets every `interval` seconds."""

    def __init__(self, kafka: str, group: str, topic: str, interval: float = 0.5) -> None:
        self._args = (kafka, group, topic)
        self._interval = interval
        self.samples: list[tuple[float, dict[int, int], dict[int, int]]] = []  # monotonic time, committed, end
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        kafka, group, topic = self._args
        with Probe(kafka) as probe:
            while not self._stop.wait(self._interval):
                self.samples.append((time.monotonic(), probe.committed(group, topic), probe.end_offsets(topic)))

    def __enter__(self) -> "LagSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def longest_stall(self) -> float:
        """The longest time a partition had uncommitted messages and its committed offset did not move."""
        longest = 0.0
        since: dict[int, float] = {}  # partition -> when its committed offset last moved
        last: dict[int, int] = {}
        for at, committed, end in self.samples:
            for partition, end_offset in end.items():
                offset = committed.get(partition, 0)
                if offset >= end_offset or offset != last.get(partition):
                    since[partition] = at
                last[partition] = offset
                longest = max(longest, at - since[partition])
        return longest


def holds_for(condition: Callable[[], bool], seconds: float, what: str, interval: float = 0.25) -> None:
    """Check `condition` every `interval` for `seconds`; fails the test the first time it does not hold."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if not condition():
            raise AssertionError(f"{what}: broken after {seconds - (until - time.monotonic()):.1f}s")
        time.sleep(interval)
