"""Kafka plumbing: client security options from settings, and explicit topic creation and checks."""

import asyncio
import ssl
import time
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from models.settings import Settings
from streams.exceptions import ServiceUnavailableError, TopicMismatchError

__all__ = [
    "aiokafka_security",
    "bootstrap_servers",
    "ensure_topics",
    "faust_app_id",
    "faust_credentials",
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
        settings.control_topic: 1,
        settings.models_topic: 1,
        f"{faust_app_id(settings)}-__assignor-__leader": 1,
    }


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
        missing = [NewTopic(name, n, settings.replication_factor) for name, n in layout.items() if name not in existing]
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
