"""Operator commands: `refit`, `rollback`, `pin`, `unpin`, `set-k`, `status` send one JSON command to the
control topic and print the worker's reply from the models topic; `models` lists the versions served."""

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from models.control import ModelEvent
from models.k_range import MAX_K, MIN_K
from models.settings import Settings
from segmenter.app import app, fail, user_errors
from segmenter.console import out
from segmenter.replies import describe, drift_summary, drift_table, history_table, lineage_summary, scores_table
from segmenter.service_options import SERVICES_HELP, Bootstrap, RedisUrl, service_errors, service_settings
from streams.clients import ensure_topics, kafka_consumer, kafka_producer, redis_client
from streams.exceptions import ServiceUnavailableError
from streams.model_plane import RedisModelStore

__all__ = ["ask", "models", "pin", "refit", "rollback", "set_k", "status", "unpin"]

Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.1,
        help="Seconds to wait for the reply, sent as the command's deadline: no worker carries it out later.",
    ),
]
# Refits take long; every other command is answered within about two seconds.
_REPLY_SECONDS = 15.0
_REFIT_SECONDS = 900.0
# The command's deadline is the sender's --timeout; its reply is awaited this much longer, so that a command a
# worker took just before the deadline is still answered rather than reported unanswered.
_GRACE_SECONDS = 1.0


@app.command(epilog=SERVICES_HELP)
@user_errors
def refit(
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the outcome (promoted or rejected) and print it.")
    ] = False,
    timeout: Timeout = _REFIT_SECONDS,
    bootstrap: Bootstrap = None,
    redis: RedisUrl = None,
) -> None:
    """Ask the workers to refit on the shared sample of recent leads; the candidate serves only if the gate passes."""
    settings = service_settings(bootstrap, redis)
    if not wait:
        with service_errors(settings):
            asyncio.run(ask(settings, {"command": "refit"}, timeout=None))
        out.print(
            f"refit requested on {settings.control_topic} (--wait prints the outcome); a worker that does not take it "
            f"within SEGMENTER_COMMAND_TTL_SECONDS ({settings.command_ttl_seconds:g}s) answers `expired` and never "
            "runs it",
            highlight=False,
        )
        return
    _reply(settings, {"command": "refit"}, timeout)


@app.command(epilog=SERVICES_HELP)
@user_errors
def rollback(
    to: Annotated[
        int | None, typer.Option("--to", min=1, metavar="VERSION", help="The version to serve again.")
    ] = None,
    timeout: Timeout = _REPLY_SECONDS,
    bootstrap: Bootstrap = None,
    redis: RedisUrl = None,
) -> None:
    """Serve the model served before the current one (or --to VERSION) again, under a new version number."""
    _reply(service_settings(bootstrap, redis), {"command": "rollback", "to_version": to}, timeout)


@app.command(epilog=SERVICES_HELP)
@user_errors
def pin(
    version: Annotated[int, typer.Argument(min=1, metavar="VERSION", help="The model version to serve.")],
    timeout: Timeout = _REPLY_SECONDS,
    bootstrap: Bootstrap = None,
    redis: RedisUrl = None,
) -> None:
    """Serve VERSION and promote nothing (refits still run and report) until `segmenter unpin`."""
    _reply(service_settings(bootstrap, redis), {"command": "pin", "version": version}, timeout)


@app.command(epilog=SERVICES_HELP)
@user_errors
def unpin(timeout: Timeout = _REPLY_SECONDS, bootstrap: Bootstrap = None, redis: RedisUrl = None) -> None:
    """Let refits and `segmenter publish` promote models again."""
    _reply(service_settings(bootstrap, redis), {"command": "unpin"}, timeout)


@app.command("set-k", epilog=SERVICES_HELP)
@user_errors
def set_k(
    k: Annotated[str, typer.Argument(metavar="K|auto", help=f"Segments of later refits ({MIN_K}..{MAX_K}), or auto.")],
    timeout: Timeout = _REPLY_SECONDS,
    bootstrap: Bootstrap = None,
    redis: RedisUrl = None,
) -> None:
    """Fix the K of later refits, or let each refit choose it again (auto, the default)."""
    if k != "auto" and not (k.isdigit() and MIN_K <= int(k) <= MAX_K):
        raise fail(f'set-k: K must be a whole number from {MIN_K} to {MAX_K}, or "auto"; got {k!r}')
    _reply(service_settings(bootstrap, redis), {"command": "set_k", "k": k if k == "auto" else int(k)}, timeout)


@app.command(epilog=SERVICES_HELP)
@user_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the worker's reply as it is (JSON).")] = False,
    timeout: Timeout = _REPLY_SECONDS,
    bootstrap: Bootstrap = None,
    redis: RedisUrl = None,
) -> None:
    """The served model, the pin, the K of refits and the last refit, as the worker owning the controls sees them."""
    _reply(service_settings(bootstrap, redis), {"command": "status"}, timeout, as_json=as_json)


@app.command(epilog=SERVICES_HELP)
@user_errors
def models(
    n: Annotated[int, typer.Option("--n", min=1, help="How many of the latest versions.")] = 20,
    bootstrap: Bootstrap = None,
    redis: RedisUrl = None,
) -> None:
    """The versions made current, newest first: when, K, why (refit and its gate, restored, published)."""
    settings = service_settings(bootstrap, redis)
    with service_errors(settings):
        snapshots = asyncio.run(_history(settings, n))
    if not snapshots:
        raise fail(
            f"no model published in Redis at {settings.redis_url_redacted} (prefix {settings.redis_key_prefix}): "
            "publish one with `segmenter publish MODEL.json`"
        )
    out.print(history_table(snapshots))


async def _history(settings: Settings, n: int) -> list[Any]:
    client = redis_client(settings)
    try:
        store = RedisModelStore(client, settings.redis_key_prefix)
        return [await store.load(v) for v in reversed(await store.history(n))]
    finally:
        await client.aclose()


def _reply(settings: Settings, command: dict[str, Any], timeout: float, as_json: bool = False) -> None:
    """Send `command`, print the reply (`as_json`: as the worker sent it); exit 1 on an `error` or `expired`
    reply or none within `timeout`."""
    with service_errors(settings):
        reply = asyncio.run(ask(settings, command, timeout))
    if reply is None:
        raise fail(
            f"no reply on {settings.models_topic} within {timeout:g}s: is a worker running "
            f"(`segmenter worker`, with the same SEGMENTER_CONTROL_TOPIC)? The command expired then (its deadline): "
            + (
                "no worker starts it later (one a worker started before may still end and announce its outcome)"
                if command["command"] == "refit"
                else "no worker will carry it out later"
            ),
            1,
        )
    if as_json:
        typer.echo(reply.model_dump_json(exclude_none=True))
        raise typer.Exit(1 if reply.type in ("error", "expired") else 0)
    out.print(describe(reply), highlight=False)
    if reply.gate is not None:
        out.print(scores_table(reply.gate))
    if reply.lineage:
        label = "the candidate's lineage, not served" if reply.type == "rejected" else "lineage"
        out.print(f"{label}: {lineage_summary(reply.lineage)}", highlight=False)
    if reply.drift is not None:
        out.print(drift_summary(reply.drift), highlight=False)
        if reply.drift.segments:
            out.print(drift_table(reply.drift))
    if reply.type in ("error", "expired"):
        raise typer.Exit(1)


async def ask(settings: Settings, command: dict[str, Any], timeout: float | None) -> ModelEvent | None:
    """Send `command` (with a new `request_id` unless it has one, the time it is sent, and with a `timeout` that
    as its deadline: no worker carries it out later); with a `timeout`, the reply to it (None if none came in time)."""
    await ensure_topics(settings)
    request_id = command.get("request_id") or uuid.uuid4().hex
    sent_at = datetime.now(UTC)
    stamps = {"request_id": request_id, "sent_at": sent_at.isoformat()}
    if timeout is not None:
        stamps["deadline"] = (sent_at + timedelta(seconds=timeout)).isoformat()
    message = json.dumps({k: v for k, v in command.items() if v is not None} | stamps).encode()
    async with kafka_consumer(settings) as consumer, kafka_producer(settings) as producer:
        replies = TopicPartition(settings.models_topic, 0)  # the topic has one partition (topic_layout)
        consumer.assign([replies])
        await consumer.seek_to_end(replies)
        await consumer.position(replies)  # fixed before the command goes, so that its reply cannot be missed
        try:
            await producer.send_and_wait(settings.control_topic, message)
        except KafkaError as error:
            raise ServiceUnavailableError(f"Kafka did not take the command: {error!r}") from error
        if timeout is None:
            return None
        deadline = time.monotonic() + timeout + _GRACE_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            fetched = await consumer.getmany(timeout_ms=int(min(left, 1.0) * 1000))
            for record in (r for records in fetched.values() for r in records):
                try:
                    event = ModelEvent.model_validate_json(record.value or b"")
                except ValueError:
                    continue  # not a model event: someone else's message
                if event.request_id == request_id:
                    return event
    return None
