"""Streaming commands: `worker`, `publish`, `produce`, `tail`, `schema`."""

import asyncio
import json
import logging
import time
from collections import deque
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka.errors import KafkaError
from pydantic import TypeAdapter
from rich.table import Table

from models.control import Command, ModelEvent
from models.events import DeadLetter, LeadEvent, OutcomeEvent, SegmentAssigned, SegmentTransition
from models.impact_report import ImpactReport
from models.settings import Settings
from segmentation.exceptions import SegmenterError
from segmenter import leads_io
from segmenter.app import DropInvalid, Quiet, app, error_text, user_errors
from segmenter.console import dropped_rows, err, out, steps, warn_dropped
from segmenter.exceptions import NoAssignmentsError
from segmenter.leads_io import lead_records, read_model
from segmenter.service_options import SERVICES_HELP, Bootstrap, RedisUrl, service_errors, service_settings
from streams.app import run_worker, start_line
from streams.clients import (
    REDIS_ERRORS,
    check_transactions,
    ensure_topics,
    kafka_consumer,
    kafka_producer,
    redis_client,
)
from streams.exceptions import ServiceUnavailableError
from streams.model_plane import publish_model

__all__ = ["produce", "publish", "schema", "tail", "worker"]


@app.command(epilog=SERVICES_HELP)
@user_errors
def worker(bootstrap: Bootstrap = None, redis: RedisUrl = None) -> None:
    """Run the streaming worker: leads in, segment-and-strategy events out, until Ctrl-C."""
    settings = service_settings(bootstrap, redis)

    def say(message: str, level: int = logging.INFO) -> None:  # in the log format: JSON lines are all JSON
        typer.echo(start_line(settings, message, level), err=True)

    say(
        f"worker {settings.app_id}: Kafka {settings.kafka_bootstrap}, Redis {settings.redis_url_redacted}, "
        f"{settings.partitions} partitions, {settings.engine} engine, {settings.processing_guarantee}, "
        f"batches of up to {settings.batch_size:,} leads"
    )
    seed = None
    try:
        if settings.refit_seed_file is not None:
            table = leads_io.read_leads(settings.refit_seed_file, drop_invalid=True)
            if dropped := dropped_rows(table):
                say(f"{settings.refit_seed_file}: {dropped}", logging.WARNING)
            seed = table.X
            say(f"refit sample: {len(seed):,} leads read from {settings.refit_seed_file} (added if it is empty)")
        with service_errors(settings):  # the usual failures at start (no broker, credentials refused) in one line
            asyncio.run(ensure_topics(settings))
            if settings.processing_guarantee == "exactly_once":
                asyncio.run(check_transactions(settings))
    except (SegmenterError, OSError) as error:
        if settings.log_format != "json":
            raise  # one red line from user_errors
        say(error_text(error), logging.ERROR)
        raise typer.Exit(2) from None
    run_worker(settings, seed)


@app.command(epilog=SERVICES_HELP)
@user_errors
def publish(
    model_file: Annotated[
        Path, typer.Argument(metavar="MODEL_FILE", help="Model JSON written by `segmenter fit --model-out`.")
    ],
    bootstrap: Bootstrap = None,
    redis: RedisUrl = None,
) -> None:
    """Store a model in Redis as the current version and announce it to the workers."""
    settings = service_settings(bootstrap, redis)
    snapshot = read_model(model_file)
    with service_errors(settings):
        asyncio.run(_check_redis(settings))  # before Kafka, so that a Redis outage is named as one
        asyncio.run(publish_model(settings, snapshot))
    out.print(f"published model version {snapshot.version} ({len(snapshot.segments)} segments)", highlight=False)


async def _check_redis(settings: Settings) -> None:
    client = redis_client(settings)
    try:
        await client.ping()
    except REDIS_ERRORS as error:  # a cluster client's own errors too
        raise ServiceUnavailableError(f"Redis: {error}") from error
    finally:
        await client.aclose()


@app.command(epilog=SERVICES_HELP)
@user_errors
def produce(
    input_file: Annotated[Path, typer.Argument(metavar="LEADS_FILE", help="Leads to send (.csv, .jsonl or .parquet).")],
    rate: Annotated[
        float | None, typer.Option("--rate", min=1, help="Leads per second (default: as fast as possible).")
    ] = None,
    drop_invalid: DropInvalid = False,
    quiet: Quiet = False,
    bootstrap: Bootstrap = None,
    redis: RedisUrl = None,
) -> None:
    """Send leads from a file to the leads topic (SEGMENTER_LEADS_TOPIC), keyed by lead_id."""
    settings = service_settings(bootstrap, redis)
    table = leads_io.read_leads(input_file, drop_invalid=drop_invalid)
    warn_dropped(table)
    records = lead_records(table)
    with service_errors(settings):
        sent = asyncio.run(_produce(settings, records, rate, quiet))
    err.print(f"sent {sent:,} leads to {settings.leads_topic}", highlight=False)


async def _produce(settings: Settings, records: list[tuple[bytes, bytes]], rate: float | None, quiet: bool) -> int:
    start = time.monotonic()
    await ensure_topics(settings)  # never let the broker auto-create `leads` with its own partition count
    async with kafka_producer(settings, linger_ms=5) as producer:
        with steps(quiet) as progress, progress.step("sending leads", total=len(records)) as bar:
            pending = []
            for i, (key, value) in enumerate(records):
                if rate is not None:
                    delay = start + i / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                pending.append(await producer.send(settings.leads_topic, value, key=key))
                bar.advance()
            try:
                await asyncio.gather(*pending)
            except KafkaError as error:
                raise ServiceUnavailableError(f"Kafka did not acknowledge the leads: {error!r}") from error
    return len(records)


@app.command(epilog=SERVICES_HELP)
@user_errors
def tail(
    n: Annotated[int, typer.Option("--n", min=1, max=100_000, help="How many of the latest assignments.")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new assignments.")] = False,
    bootstrap: Bootstrap = None,
    redis: RedisUrl = None,
) -> None:
    """Print the latest assignments from the segments topic (SEGMENTER_SEGMENTS_TOPIC) as a table.

    Exits with status 2 when the topic holds no assignment yet (no worker has routed a lead).
    """
    settings = service_settings(bootstrap, redis)
    try:
        with service_errors(settings):
            asyncio.run(_tail(settings, n, follow))
    except KeyboardInterrupt:
        pass


async def _tail(settings: Settings, n: int, follow: bool) -> None:
    await ensure_topics(settings)  # subscribing to a missing topic would let the broker auto-create it
    async with kafka_consumer(settings, settings.segments_topic) as consumer:
        latest: deque[dict[str, Any]] = deque(maxlen=n)
        idle = 0
        while idle < 2:  # read to the end: two empty polls in a row
            batches = await consumer.getmany(timeout_ms=1000)
            idle = 0 if batches else idle + 1
            latest.extend(json.loads(m.value) for records in batches.values() for m in records)
        if not latest and not follow:
            raise NoAssignmentsError(
                f"no assignments on {settings.segments_topic} at {settings.kafka_bootstrap}: no worker has routed a "
                "lead yet; start one with `segmenter worker` (same settings), send leads with `segmenter produce "
                "LEADS_FILE`, or wait with `segmenter tail --follow`"
            )
        if latest:
            out.print(_table(list(latest)))
        while follow:
            batches = await consumer.getmany(timeout_ms=1000)
            rows = [json.loads(m.value) for records in batches.values() for m in records]
            if rows:
                out.print(_table(rows, title=None))


def _table(rows: list[dict[str, Any]], title: str | None = "Latest assignments") -> Table:
    table = Table(title=title)
    for column in ("lead", "segment", "confidence", "outlier", "previous", "model", "assigned at"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["lead_id"],
            f"{row['segment_id']} {row['segment_name']}",
            f"{row['confidence']:.2f}",
            "yes" if row["is_outlier"] else "",
            "" if row["previous_segment_id"] is None else str(row["previous_segment_id"]),
            str(row["model_version"]),
            row["assigned_at"],
        )
    return table


@app.command()
def schema() -> None:
    """Print the JSON Schemas of LeadEvent, OutcomeEvent, SegmentAssigned, SegmentTransition, the dead-letter
    headers, the control commands (ControlCommand), the replies and announcements on the models topic (ModelEvent)
    and the measured-impact report (ImpactReport, `segmenter impact --json`)."""
    schemas = {
        model.__name__: model.model_json_schema()
        for model in (LeadEvent, OutcomeEvent, SegmentAssigned, SegmentTransition, DeadLetter)
    }
    schemas |= {"ControlCommand": TypeAdapter(Command).json_schema(), "ModelEvent": ModelEvent.model_json_schema()}
    schemas["ImpactReport"] = ImpactReport.model_json_schema()
    out.print_json(json.dumps(schemas))
