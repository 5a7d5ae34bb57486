"""The Faust worker: topics, the lead-routing agent, the model holder; built from settings only."""

import gc
import logging
import signal
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import faust
import mode
import numpy as np

from models.control import ImpactSummary
from models.impact_report import ImpactReport, impact_report
from models.settings import Settings
from streams import metrics
from streams.clients import (
    KafkaOutbox,
    LeadMessage,
    RedisHealth,
    bootstrap_servers,
    faust_app_id,
    faust_credentials,
    redis_client,
)
from streams.exceptions import ServiceUnavailableError
from streams.model_plane import (
    Controller,
    DriftMonitor,
    KafkaRegistry,
    MirroredModelStore,
    ModelHolder,
    Refitter,
    RegistryKeeper,
    SharedSample,
    announce,
)
from streams.operations import Activity, Check, WebServer, logging_config, start_line, stop_message
from streams.outcomes import Attribution, ExposureRecorder, OutcomeIntake, close_rates, summary_of
from streams.routing import (
    BatchEngine,
    BatchRouter,
    ExactlyOnceEngine,
    RedisPreviousSegments,
    ReplaySafeSegments,
    RoutedBatch,
)

__all__ = ["create_app", "run_worker", "start_line"]

log = logging.getLogger(__name__)

_OBSERVED_SECONDS = 10.0  # how often the observed close rates of /metrics are read from Redis
# Outcomes counted per script call: about 15 ms of Redis time each (bench/attribution.py), so that a backlog of
# outcomes never holds Redis long between the hot path's calls.
_OUTCOME_BATCH = 1_000


def create_app(
    settings: Settings, datadir: Path, seed: np.ndarray | None = None
) -> tuple[faust.App, list[mode.Service]]:
    """The Faust app and the services the worker runs beside it: the model holder, the producer of
    outputs, the shared refit sample (the `seed` leads added at start if it is empty), the refitter and
    with the `batch` engine the consumer of the leads topic."""
    session = settings.kafka_session_timeout_seconds
    app = faust.App(
        faust_app_id(settings),
        broker=[f"kafka://{host}" for host in bootstrap_servers(settings)],
        broker_credentials=faust_credentials(settings),
        web_enabled=False,
        datadir=str(datadir),  # Faust's local state: the worker keeps none of its own there
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
    health = RedisHealth(client, timeout=settings.redis_timeout_seconds)
    registry = KafkaRegistry(settings)
    store = MirroredModelStore(client, settings.redis_key_prefix, registry.write, health)
    holder = ModelHolder(store, poll_seconds=settings.model_poll_seconds)
    keeper = RegistryKeeper(store, registry, holder, check_seconds=settings.registry_check_seconds)
    exactly_once = settings.processing_guarantee == "exactly_once"
    previous = (ReplaySafeSegments if exactly_once else RedisPreviousSegments)(
        client,
        health,
        settings.redis_key_prefix,
        retention_seconds=settings.previous_retention_seconds,
        shards=settings.previous_shards,
    )
    outbox = KafkaOutbox(settings)
    sample = SharedSample(client, health, settings, seed)
    activity = Activity()
    announce_event = partial(announce, settings)
    refitter = Refitter(settings, holder, store, sample, announce_event)
    drift = DriftMonitor(settings, lambda: holder.model, refitter)

    def sampled(batch: RoutedBatch) -> None:  # each delivered batch's features: the refit sample and the drift window
        if batch.outputs:
            sample.add(batch.X)
            drift.observe(batch.X)

    attribution = Attribution(client, health, settings.redis_key_prefix, settings.attribution_window_seconds)
    measured = _Measured()
    router = BatchRouter(
        settings,
        holder,
        previous,
        outbox,
        listeners=[activity.routed, sampled],
        exposures=ExposureRecorder(attribution),
    )
    # Started in this order: the registry read and Redis refilled from it before the holder loads the model.
    services: list[mode.Service] = [registry, keeper, holder, outbox, sample, refitter]
    app_stopping = lambda: bool(app.should_stop)  # noqa: E731
    if settings.engine == "batch":
        engine = (
            ExactlyOnceEngine(settings, router, app_stopping, previous)
            if isinstance(previous, ReplaySafeSegments)
            else BatchEngine(settings, router, app_stopping)
        )
        services.append(engine)
        joined: Callable[[], bool] = lambda: engine.joined  # noqa: E731
        metrics.set_lag_source(engine.lag)
    else:
        _add_agent(app, settings, router, app_stopping)
        joined = lambda: bool(app.consumer.assignment())  # noqa: E731
        metrics.set_lag_source(partial(_agent_lag, app, settings.leads_topic))
    if settings.web_port:
        checks = _readiness(holder, health, joined)
        services.append(WebServer(settings, holder, activity, checks, lambda: drift.judged, lambda: measured.report))
    _add_outcomes(app, settings, OutcomeIntake(settings, attribution, outbox), app_stopping)

    async def impact(version: int) -> ImpactSummary | None:
        return summary_of(await attribution.tallies(), version)

    controller = Controller(
        store, holder, refitter, announce_event, drift.report, impact=impact, ttl_seconds=settings.command_ttl_seconds
    )
    _add_control(app, settings, controller, refitter)

    @app.timer(_OBSERVED_SECONDS)  # type: ignore[untyped-decorator]
    async def observe_impact() -> None:  # the served version's, for /metrics and the dashboard
        if (served := holder.model) is not None:
            try:
                tallies = await attribution.tallies()
            except ServiceUnavailableError:
                return  # Redis down: the last figures read stay; the outage is logged and served as segmenter_redis_up
            metrics.observed_close_rates(close_rates(tallies, served.version))
            measured.report = impact_report(
                tallies.cells, tallies.unattributed + tallies.after_window, attribution.window, served.version
            )

    @app.timer(activity.progress_seconds)  # type: ignore[untyped-decorator]
    async def say_progress() -> None:  # its lag is read as /metrics reads it, at the same moment
        activity.progress()

    if settings.drift_check_seconds:

        @app.timer(settings.drift_check_seconds)  # type: ignore[untyped-decorator]
        async def check_drift() -> None:  # every worker logs its own drift; the leader refits on it
            drift.check(leader=app.is_leader())

    return app, services


def _add_control(app: faust.App, settings: Settings, controller: Controller, refitter: Refitter) -> None:
    """Operator commands on the control topic (one worker owns its one partition), and the leader's refit timer."""
    control = app.topic(
        settings.control_topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )

    @app.agent(control, name="control", concurrency=1)
    async def on_command(commands: faust.StreamT[bytes]) -> None:
        async for event in commands.events():  # the record's time ages a command sent without `sent_at`
            timestamp = event.message.timestamp
            await controller.handle(event.value, datetime.fromtimestamp(timestamp, UTC) if timestamp > 0 else None)

    if settings.refit_interval_seconds:

        @app.timer(settings.refit_interval_seconds, on_leader=True)  # type: ignore[untyped-decorator]
        async def refit_on_schedule() -> None:
            refitter.request("schedule")


class _Measured:
    """The served version's measured impact as last read from Redis, for the dashboard."""

    report: ImpactReport | None = None


def _add_outcomes(app: faust.App, settings: Settings, intake: OutcomeIntake, stopping: Callable[[], bool]) -> None:
    """The outcomes topic, read by a Faust agent whichever engine routes the leads."""

    async def count(batch: list[faust.EventT[bytes]]) -> None:
        await intake.take(_messages(batch), [event.message.timestamp for event in batch], stopping)

    _add_batch_agent(app, settings, settings.outcomes_topic, "count-outcomes", count, _OUTCOME_BATCH)


def _add_agent(app: faust.App, settings: Settings, router: BatchRouter, stopping: Callable[[], bool]) -> None:
    """The `agent` engine: a Faust agent over the leads topic."""

    async def route(batch: list[faust.EventT[bytes]]) -> None:
        await router.route(_messages(batch), stopping)

    _add_batch_agent(app, settings, settings.leads_topic, "route-leads", route, settings.batch_size)


def _add_batch_agent(
    app: faust.App,
    settings: Settings,
    topic: str,
    name: str,
    handle: Callable[[list[faust.EventT[bytes]]], Awaitable[None]],
    size: int,
) -> None:
    """A Faust agent handing `topic`'s records to `handle` in batches of up to `size`."""
    records = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    within = settings.batch_max_latency_ms / 1000

    @app.agent(records, name=name, concurrency=1)
    async def take_batches(stream: faust.StreamT[bytes]) -> None:
        # noack + noack_take: Faust's take() acks a batch even when it fails; here a batch is
        # acked, in offset order, only after `handle` returns (its outputs acknowledged by the broker).
        async for batch in stream.noack().noack_take(size, within=within):  # type: ignore[attr-defined]
            await handle(batch)
            for event in batch:
                event.ack()


def _messages(batch: list[faust.EventT[bytes]]) -> list[LeadMessage]:
    return [LeadMessage(e.message.topic, e.message.partition, e.message.offset, e.key, e.value) for e in batch]


def _readiness(holder: ModelHolder, health: RedisHealth, joined: Callable[[], bool]) -> dict[str, Check]:
    """What `/readyz` asks: a model served, the consumer group joined, outputs delivered, Redis answering."""

    def model() -> tuple[bool, str]:
        served = holder.model
        return (True, f"version {served.version}") if served else (False, "no model published yet")

    def consumer() -> tuple[bool, str]:
        return (True, "group joined") if joined() else (False, "consumer group not joined yet")

    def kafka() -> tuple[bool, str]:
        up = bool(metrics.value(metrics.KAFKA_DELIVERY_UP))
        return (True, "outputs acknowledged") if up else (False, "outputs not acknowledged: retrying")

    def redis() -> tuple[bool, str]:
        return (True, "answering") if health.up else (False, "not answering: probing every second")

    return {"model": model, "consumer": consumer, "kafka": kafka, "redis": redis}


def _agent_lag(app: faust.App, topic: str) -> dict[tuple[str, int], int]:
    """The `agent` engine's lag per partition of the leads topic: Faust's highwater against its read offset."""
    consumer = app.consumer
    lags = {}
    for tp in consumer.assignment():
        read = consumer._read_offset.get(tp)  # type: ignore[attr-defined]
        if tp.topic == topic and read is not None:
            lags[tp.topic, tp.partition] = max(consumer.highwater(tp) - read - 1, 0)
    return lags


def run_worker(settings: Settings, seed: np.ndarray | None = None) -> None:
    """Run the worker until SIGTERM or Ctrl-C (its topics created first with `ensure_topics`)."""
    # One folder per run, removed when the worker ends (also on SIGTERM and Ctrl-C), not left in the temp dir.
    with tempfile.TemporaryDirectory(prefix=f"segmenter-{settings.app_id}-") as datadir:
        app, services = create_app(settings, Path(datadir), seed)
        _pace_garbage_collection()
        engine = next((s for s in services if isinstance(s, BatchEngine)), None)
        uncommitted = (lambda: engine.uncommitted) if engine else partial(_agent_uncommitted, app)
        _Worker(
            app, *services, loglevel=settings.log_level, logging_config=logging_config(settings), quiet=True,
            uncommitted=uncommitted,
        ).execute_from_commandline()  # fmt: skip


class _Worker(faust.Worker):
    """Faust's worker, which also logs why it stopped (a signal, an error) and what it left uncommitted."""

    def __init__(self, *args: Any, uncommitted: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._uncommitted = uncommitted
        self._signal: signal.Signals | None = None

    def _repr_name(self) -> str:  # named as Faust's in its lines ("[^Worker]: Ready" is kept and awaited)
        return "Worker"

    def _schedule_shutdown(self, sig: signal.Signals) -> None:  # mode's one way from SIGINT and SIGTERM to a stop
        self._signal = self._signal or sig
        super()._schedule_shutdown(sig)

    def _shutdown_loop(self) -> None:  # mode calls it once every service has stopped
        level, message = stop_message(
            self._signal.name if self._signal else None, self.crash_reason, self._uncommitted()
        )
        log.log(level, "%s", message)
        super()._shutdown_loop()


def _agent_uncommitted(app: faust.App) -> int:
    """The `agent` engine's leads read and not committed, as Faust's consumer keeps them: not yet acknowledged by
    the agent, or acknowledged and not committed."""
    consumer = app.consumer
    acked = consumer._acked  # type: ignore[attr-defined]
    return len(consumer._unacked_messages) + sum(len(offsets) for offsets in acked.values())  # type: ignore[attr-defined]


def _pace_garbage_collection() -> None:
    """Routing makes many short-lived objects per batch, nearly all freed by reference counting; at
    the collector's default pace (a young collection every 700 allocations, and full ones over every
    object the worker holds) collecting took a measurable share of the worker's CPU (bench/throughput.py
    with and without this). What exists after start-up is never garbage: frozen out of every collection."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)
