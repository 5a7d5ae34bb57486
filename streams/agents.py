"""The lead-routing agent: a batch of raw messages in, assignments and dead letters out, acked
only after every output is acknowledged by the broker (at-least-once)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from faust.exceptions import ProducerSendError

from models.settings import Settings
from streams.exceptions import WorkerStoppingError
from streams.routing import RawLead, Rejected, assign, decode
from streams.serving import ModelHolder
from streams.state import PreviousSegments

__all__ = ["BatchRouter", "Outgoing", "Send"]

log = logging.getLogger(__name__)

# send(topic, key, value, headers) -> a future resolved when the broker acknowledges.
Send = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Awaitable[Awaitable[Any]]]

_MAX_BACKOFF = 30.0
# Errors about the message itself: sending it again can never succeed.
_NEVER_ACCEPTED = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError, CorruptRecordException)
_TRUNCATED_BYTES = 1024


@dataclass(frozen=True)
class Outgoing:
    """One message to produce, and the input it answers (for dead-lettering it if it cannot be sent)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    source: RawLead


class BatchRouter:
    """Routes one batch: validate, assign with one model, send, wait for every acknowledgement."""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        previous: PreviousSegments,
        send: Send,
        stopping: Callable[[], bool],
    ) -> None:
        self._settings = settings
        self._holder = holder
        self._previous = previous
        self._send = send
        self._stopping = stopping

    async def route(self, raws: Sequence[RawLead]) -> tuple[int, int]:
        """Route a batch; returns (assigned, dead-lettered). Returns only once all are acknowledged;
        raises `WorkerStoppingError` (nothing of the batch acknowledged) if the worker stops first."""
        model = await self._holder.wait_for_model(self._stopping)
        valid, rejected = decode(raws, self._settings.max_event_bytes)
        previous = await self._previous.get_many([event.lead_id for _, event in valid])
        try:
            outputs = assign(model, valid, previous, datetime.now(UTC))
        except Exception as error:  # noqa: BLE001 - a bug must not lose leads: dead-letter them and go on
            log.exception("assignment failed for a batch of %d leads: dead-lettering them", len(valid))
            rejected += [Rejected(raw, "internal", f"{type(error).__name__}: {error}") for raw, _ in valid]
            valid, outputs = [], []
        s = self._settings
        messages: list[Outgoing] = []
        for (raw, _), output in zip(valid, outputs, strict=True):
            value = output.model_dump_json().encode()
            messages.append(Outgoing(s.segments_topic, raw.key, value, [], raw))
            if output.previous_segment_id is not None and output.previous_segment_id != output.segment_id:
                messages.append(Outgoing(s.transitions_topic, raw.key, value, [], raw))
        for bad in rejected:
            payload = bad.raw.value
            if bad.error_class == "oversize" and payload is not None:
                payload = payload[: s.max_event_bytes]  # the original may be too large to produce at all
            messages.append(
                Outgoing(s.dlq_topic, bad.raw.key, payload, bad.dead_letter(model.version).headers(), bad.raw)
            )
        await self._deliver(messages, model.version)
        await self._previous.set_many({o.lead_id: o.segment_id for o in outputs})
        return len(outputs), len(rejected)

    async def _deliver(self, messages: list[Outgoing], version: int) -> None:
        """Send all and await every acknowledgement. Messages that failed for a passing reason
        (broker down, leader moving) are sent again with backoff; one the broker will never take
        (too large, say) is replaced by a dead letter of its input, itself truncated if need be."""
        pending, backoff = messages, 0.5
        while pending:
            if self._stopping():
                raise WorkerStoppingError("stopping with a batch not yet delivered: it will be processed again")
            results = await asyncio.gather(*[await self._attempt(m) for m in pending], return_exceptions=True)
            retry: list[Outgoing] = []
            for message, result in zip(pending, results, strict=True):
                if isinstance(result, BaseException):
                    retry.append(self._instead_of(message, result, version))
            if retry:
                log.warning("%d of %d messages not delivered: retrying in %.1fs", len(retry), len(pending), backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            elif backoff > 0.5:
                log.info("delivery recovered")
            pending = retry

    async def _attempt(self, message: Outgoing) -> Awaitable[Any]:
        try:
            return await self._send(message.topic, message.key, message.value, message.headers)
        except (KafkaError, ProducerSendError) as error:
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(error)
            return failed

    def _instead_of(self, message: Outgoing, error: BaseException, version: int) -> Outgoing:
        """What to send next for a message that failed with `error`."""
        if not isinstance(error, KafkaError | ProducerSendError):
            raise error
        cause = error.__cause__ if isinstance(error, ProducerSendError) else error
        if not isinstance(cause, _NEVER_ACCEPTED):  # timeouts, lost leaders, a broker down: they pass
            return message
        reason = f"{type(cause).__name__}: the broker refused the output"
        if message.topic != self._settings.dlq_topic:
            dead = Rejected(message.source, "undeliverable", reason).dead_letter(version)
            return Outgoing(self._settings.dlq_topic, message.key, message.source.value, dead.headers(), message.source)
        if message.value is not None and len(message.value) > _TRUNCATED_BYTES:
            return replace(
                message, value=message.value[:_TRUNCATED_BYTES], headers=[*message.headers, ("truncated", b"true")]
            )
        raise error
