"""The Faust worker: topics, the lead-routing agent, the model holder; built from settings only."""

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import faust
import mode
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from models.settings import Settings
from streams.agents import BatchRouter
from streams.kafka import bootstrap_servers, ensure_topics, faust_credentials
from streams.routing import RawLead
from streams.serving import ModelHolder
from streams.state import PreviousSegments
from streams.store import RedisModelStore

__all__ = ["create_app", "redis_client", "run_worker"]


def redis_client(settings: Settings) -> aioredis.Redis:
    """A Redis client with short timeouts, so an outage is noticed instead of waited out; a pooled
    connection that died with a restarted server is retried once instead of reported as an outage."""
    return aioredis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=5,
        socket_connect_timeout=5,
        decode_responses=True,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
        retry_on_error=[RedisConnectionError],
    )


def create_app(settings: Settings) -> tuple[faust.App, ModelHolder]:
    """The Faust app and the model holder service the worker must run beside it."""
    session = settings.kafka_session_timeout_seconds
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in bootstrap_servers(settings)],
        broker_credentials=faust_credentials(settings),
        web_enabled=False,
        datadir=str(Path(tempfile.gettempdir()) / f"segmenter-{settings.app_id}"),
        key_serializer="raw",
        value_serializer="raw",
        topic_allow_declare=False,  # ensure_topics creates every topic with its partition count
        agent_supervisor=mode.CrashingSupervisor,  # an escaped error stops the worker unacked, never loses
        broker_session_timeout=session,
        broker_heartbeat_interval=max(session / 6, 0.5),
        broker_rebalance_timeout=max(session, 10.0),
        broker_request_timeout=max(session, 30.0),
        broker_commit_interval=0.5,
        producer_request_timeout=30.0,
        producer_acks=-1,
        stream_buffer_maxsize=max(4 * settings.batch_size, 1000),
    )
    client = redis_client(settings)
    holder = ModelHolder(RedisModelStore(client, settings.redis_key_prefix), poll_seconds=settings.model_poll_seconds)
    previous = PreviousSegments(client, settings.redis_key_prefix)
    names = (settings.leads_topic, settings.segments_topic, settings.transitions_topic, settings.dlq_topic)
    topics = {
        name: app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        for name in names
    }

    async def send(topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
        return await topics[topic].send(key=key, value=value, headers=headers)

    router = BatchRouter(settings, holder, previous, send, stopping=lambda: bool(app.should_stop))
    within = settings.batch_max_latency_ms / 1000

    @app.agent(topics[settings.leads_topic], name="route-leads", concurrency=1)
    async def route_leads(stream: faust.StreamT[bytes]) -> None:
        # noack + noack_take: Faust's take() acks a batch even when it fails; here a batch is
        # acked, in offset order, only after all its outputs are acknowledged by the broker.
        async for batch in stream.noack().noack_take(settings.batch_size, within=within):  # type: ignore[attr-defined]
            await router.route(
                [RawLead(e.message.topic, e.message.partition, e.message.offset, e.key, e.value) for e in batch]
            )
            for event in batch:
                event.ack()

    return app, holder


def run_worker(settings: Settings) -> None:
    """Create the topics, then run the worker until SIGTERM or Ctrl-C."""
    asyncio.run(ensure_topics(settings))
    app, holder = create_app(settings)
    faust.Worker(app, holder, loglevel=settings.log_level, quiet=True).execute_from_commandline()
