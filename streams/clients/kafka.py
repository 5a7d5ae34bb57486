"""Kafka plumbing: client security options from settings, started producers and consumers for the
command line, and explicit topic creation and checks."""

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from models.settings import Settings
from streams.exceptions import ServiceUnavailableError, TopicMismatchError

__all__ = [
    "aiokafka_security",
    "bootstrap_servers",
    "ensure_topics",
    "faust_app_id",
    "faust_credentials",
    "kafka_consumer",
    "kafka_producer",
    "topic_configs",
    "topic_layout",
]

_TOPIC_ALREADY_EXISTS = 36


def bootstrap_servers(settings: Settings) -> list[str]:
    return [host.strip() for host in settings.kafka_bootstrap.split(",")]


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if "SSL" not in settings.kafka_security_protocol:
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    return context


def aiokafka_security(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka clients: protocol, SASL and SSL as configured."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    context = _ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = settings.kafka_sasl_username
        password = settings.kafka_sasl_password
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


@asynccontextmanager
async def kafka_producer(settings: Settings, **options: Any) -> AsyncIterator[AIOKafkaProducer]:
    """A started aiokafka producer (acks=all, security from the settings, `options` on top);
    connection failures become `ServiceUnavailableError`."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(settings), acks="all", request_timeout_ms=15_000,
        **aiokafka_security(settings) | options,
    )  # fmt: skip
    async with _started(producer, settings):
        yield producer


@asynccontextmanager
async def kafka_consumer(settings: Settings, *topics: str, **options: Any) -> AsyncIterator[AIOKafkaConsumer]:
    """A started aiokafka consumer of `topics` outside any group, from the earliest offset, committing
    nothing (security from the settings, `options` on top); connection failures become
    `ServiceUnavailableError`."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap_servers(settings), group_id=None, auto_offset_reset="earliest",
        enable_auto_commit=False, **aiokafka_security(settings) | options,
    )  # fmt: skip
    async with _started(consumer, settings):
        yield consumer


class _Client(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@asynccontextmanager
async def _started(client: _Client, settings: Settings) -> AsyncIterator[None]:
    """Start `client`, stop it on the way out (also when starting failed)."""
    try:
        await client.start()
    except KafkaError as error:
        await client.stop()
        raise ServiceUnavailableError(f"Kafka at {settings.kafka_bootstrap}: {error!r}") from error
    try:
        yield
    finally:
        await client.stop()


def faust_credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """The same security for Faust's own clients (their repr shows no password)."""
    context = _ssl_context(settings)
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism or "PLAIN",
            ssl_context=context,
        )
    return None if context is None else faust.SSLCredentials(context)


def faust_app_id(settings: Settings) -> str:
    """Faust's app id, which is also its consumer group. The group that consumes the leads topic is
    always `app_id`: Faust's own with the agent engine; with the batch engine that group belongs to
    the engine's consumer and Faust, left with the control topic and timers, takes `app_id-control`."""
    return settings.app_id if settings.engine == "agent" else f"{settings.app_id}-control"


def topic_layout(settings: Settings) -> dict[str, int]:
    """Every topic the worker uses and its partition count (Faust's leader topic has one)."""
    n = settings.partitions
    return {
        settings.leads_topic: n,
        settings.segments_topic: n,
        settings.transitions_topic: n,
        settings.dlq_topic: n,
        settings.outcomes_topic: n,
        settings.control_topic: 1,
        settings.models_topic: 1,
        settings.registry_topic: 1,
        f"{faust_app_id(settings)}-__assignor-__leader": 1,
    }


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """The topics created with configuration of their own: the registry keeps the last record of each key."""
    return {settings.registry_topic: {"cleanup.policy": "compact"}}


async def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics with their intended partition counts, check the existing ones.

    Returns the topics created. Raises `TopicMismatchError` when an existing topic has another
    partition count, `ServiceUnavailableError` when Kafka cannot be reached.
    """
    layout = topic_layout(settings)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers(settings), request_timeout_ms=30_000, **aiokafka_security(settings)
    )
    try:
        await admin.start()
        existing = set(await admin.list_topics())  # a metadata request for all topics: creates nothing
        configs = topic_configs(settings)
        missing = [
            NewTopic(name, n, settings.replication_factor, topic_configs=configs.get(name))
            for name, n in layout.items()
            if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            for error in response.to_object()["topic_errors"]:
                if error["error_code"] not in (0, _TOPIC_ALREADY_EXISTS):
                    raise ServiceUnavailableError(f"Kafka refused to create topic {error['topic']}: {error}")
        for name, found in (await _partition_counts(admin, list(layout))).items():
            if found != layout[name]:
                raise TopicMismatchError(
                    f"topic {name} has {found} partitions, the settings say {layout[name]}: "
                    "set SEGMENTER_PARTITIONS to match, or recreate the topic"
                )
        await _check_configs(admin, configs)
        return [topic.name for topic in missing]
    except KafkaError as error:
        raise ServiceUnavailableError(f"Kafka at {settings.kafka_bootstrap}: {error!r}") from error
    finally:
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str], timeout: float = 20) -> dict[str, int]:
    """Partitions per topic. A broker may briefly answer with an error and no partitions (metadata of a
    new topic still spreading, a leader moving): ask again rather than mistake it for a mismatch."""
    deadline = time.monotonic() + timeout
    while True:
        descriptions = await admin.describe_topics(names)
        unsettled = [d for d in descriptions if d["error_code"] or not d["partitions"]]
        if not unsettled:
            return {d["topic"]: len(d["partitions"]) for d in descriptions}
        if time.monotonic() > deadline:
            first = unsettled[0]
            raise ServiceUnavailableError(
                f"Kafka does not describe topic {first['topic']} (error {first['error_code']})"
            )
        await asyncio.sleep(0.5)


async def _check_configs(admin: AIOKafkaAdminClient, configs: dict[str, dict[str, str]]) -> None:
    """Stop on a topic whose configuration says otherwise (one created before, by hand or by an older version)."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in configs]
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            name = resource["resource_name"]
            found = {entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]}
            for key, wanted in configs[name].items():
                if key in found and found[key] != wanted:
                    raise TopicMismatchError(
                        f"topic {name} has {key}={found[key]}, it needs {wanted}: kafka-configs.sh --alter "
                        f"--entity-type topics --entity-name {name} --add-config {key}={wanted}"
                    )
