"""The model registry in Kafka: every model version and the controls in a compacted topic, the copy Redis is
refilled from when it loses them. Key `model:<version>` holds the model's JSON as Redis holds it, key `controls`
the pin, the K of refits and their revision. A version is stored only as it is made current, and versions only
go forward, so the newest model record is the current pointer and the model records in version order are the
history: neither needs a record of its own, and no two writers can leave them out of order."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import mode
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from models.settings import Settings
from models.snapshot import ModelSnapshot
from streams.clients import aiokafka_security, back_off_metadata_retries, bootstrap_servers, kafka_consumer
from streams.exceptions import ServiceUnavailableError
from streams.model_plane.store import HISTORY_KEPT, Controls, StoredControls

__all__ = ["KafkaRegistry", "RegistryLog", "controls_record", "model_key", "model_record", "read_registry", "send"]

log = logging.getLogger(__name__)

_MODEL = b"model:"
_CONTROLS = b"controls"

Write = Callable[[bytes, bytes], Awaitable[None]]


def model_key(version: int) -> bytes:
    return _MODEL + str(version).encode()


def model_record(snapshot: ModelSnapshot) -> tuple[bytes, bytes]:
    return model_key(snapshot.version), snapshot.model_dump_json().encode()


def controls_record(stored: StoredControls) -> tuple[bytes, bytes]:
    c = stored.controls
    return _CONTROLS, orjson.dumps({"pinned": c.pinned, "k": c.k, "revision": stored.revision})


async def send(producer: AIOKafkaProducer, topic: str, key: bytes, value: bytes) -> None:
    """Write one record and wait for the broker; its refusal becomes `ServiceUnavailableError`."""
    try:
        await producer.send_and_wait(topic, value, key=key)
    except KafkaError as error:
        raise ServiceUnavailableError(f"writing to {topic}: {error!r}") from error


@dataclass
class RegistryLog:
    """The topic as read so far: the JSON of the newest `HISTORY_KEPT` versions (the history Redis keeps), and
    the controls of the highest revision."""

    models: dict[int, bytes] = field(default_factory=dict)
    controls: StoredControls | None = None

    @property
    def newest(self) -> int | None:
        """The current version by the registry: its newest model."""
        return max(self.models, default=None)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Take in one record; one that is not the registry's is logged and skipped."""
        try:
            if key is not None and key.startswith(_MODEL) and value:
                self.models[int(key[len(_MODEL) :])] = value
                if len(self.models) > 2 * HISTORY_KEPT:  # pruned now and then, not on every record
                    self.models = dict(sorted(self.models.items())[-HISTORY_KEPT:])
            elif key == _CONTROLS and value:
                read = orjson.loads(value)
                stored = StoredControls(Controls(read["pinned"], read["k"]), int(read["revision"]))
                if self.controls is None or stored.revision >= self.controls.revision:
                    self.controls = stored
            else:
                raise ValueError("not a registry key")
        except (ValueError, KeyError, TypeError) as error:
            log.warning("skipped a record of the registry topic (key %.60r): %s", key, error)


class KafkaRegistry(mode.Service):
    """Reads the registry topic from its start and follows it (`contents`, `caught_up` once the end seen at start is
    read), and writes records to it."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self._settings = settings
        self._partition = TopicPartition(settings.registry_topic, 0)  # one partition (topic_layout)
        self.contents = RegistryLog()
        self.caught_up = asyncio.Event()
        self._consumer: AIOKafkaConsumer
        self._producer: AIOKafkaProducer

    async def on_start(self) -> None:
        options = {"bootstrap_servers": bootstrap_servers(self._settings)} | aiokafka_security(self._settings)
        self._producer = AIOKafkaProducer(acks="all", request_timeout_ms=15_000, **options)
        self._consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **options)
        for client in (self._producer.client, self._consumer._client):
            back_off_metadata_retries(client)
        await self._producer.start()
        await self._consumer.start()
        self._consumer.assign([self._partition])
        await self._consumer.seek_to_beginning(self._partition)

    async def on_stop(self) -> None:
        await self._consumer.stop()
        await self._producer.stop()

    @property
    def topic(self) -> str:
        return self._settings.registry_topic

    async def write(self, key: bytes, value: bytes) -> None:
        await send(self._producer, self.topic, key, value)
        self.contents.apply(key, value)  # known now, not only when read back

    @mode.Service.task
    async def _follow(self) -> None:
        end: int | None = None
        outage = False
        while not self.should_stop:
            try:
                if end is None:
                    end = (await self._consumer.end_offsets([self._partition]))[self._partition]
                position = await _read_more(self._consumer, self._partition, self.contents)
            except KafkaError as error:  # said once; the copy in Redis is served meanwhile
                if not outage:
                    log.warning("registry %s unreadable (%r): retrying", self._settings.registry_topic, error)
                outage = True
                await self.sleep(1)
                continue
            outage = False
            if not self.caught_up.is_set() and position >= end:
                log.info(
                    "registry %s read: %d model versions, newest %s",
                    self._settings.registry_topic, len(self.contents.models), self.contents.newest,
                )  # fmt: skip
                self.caught_up.set()


async def _read_more(consumer: AIOKafkaConsumer, partition: TopicPartition, contents: RegistryLog) -> int:
    """Take in what one fetch brings; the position after it."""
    for records in (await consumer.getmany(partition, timeout_ms=500)).values():
        for record in records:
            contents.apply(record.key, record.value)
    position: int = await consumer.position(partition)
    return position


async def read_registry(settings: Settings, timeout: float = 30) -> RegistryLog:
    """The registry topic read once to its end (`segmenter publish`, before it publishes into an empty Redis)."""
    partition = TopicPartition(settings.registry_topic, 0)
    contents = RegistryLog()
    deadline = time.monotonic() + timeout
    async with kafka_consumer(settings) as consumer:
        try:
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            end = (await consumer.end_offsets([partition]))[partition]
            while await _read_more(consumer, partition, contents) < end:
                if time.monotonic() > deadline:
                    raise ServiceUnavailableError(f"{settings.registry_topic} not read to its end within {timeout:g}s")
        except KafkaError as error:
            raise ServiceUnavailableError(f"reading {settings.registry_topic}: {error!r}") from error
    return contents
