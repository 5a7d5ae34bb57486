"""Routing one batch of raw lead messages: assignments and dead letters out, returned only after
every output is acknowledged by the broker (at-least-once). Shared by both engines."""

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from models.settings import Settings
from streams.exceptions import WorkerStoppingError
from streams.outbox import Outbox, Outgoing
from streams.refit import LeadSample
from streams.routing import RawLead, Rejected, assign, decode
from streams.serving import ModelHolder
from streams.state import PreviousSegments

__all__ = ["BatchRouter"]

log = logging.getLogger(__name__)

_MAX_BACKOFF = 30.0
# Errors about the message itself: sending it again can never succeed.
_NEVER_ACCEPTED = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError, CorruptRecordException)
_TRUNCATED_BYTES = 1024


class BatchRouter:
    """Routes one batch: validate, assign with one model, send, wait for every acknowledgement."""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        previous: PreviousSegments,
        outbox: Outbox,
        stopping: Callable[[], bool],
        sample: LeadSample | None = None,
    ) -> None:
        self._settings = settings
        self._holder = holder
        self._previous = previous
        self._outbox = outbox
        self._stopping = stopping
        self._sample = sample

    async def route(self, raws: Sequence[RawLead]) -> tuple[int, int]:
        """Route a batch; returns (assigned, dead-lettered). Returns only once all are acknowledged;
        raises `WorkerStoppingError` (nothing of the batch acknowledged) if the worker stops first."""
        model = await self._holder.wait_for_model(self._stopping)
        valid, rejected, X = decode(raws, self._settings.max_event_bytes)
        previous = await self._previous.get_many([lead.lead_id for _, lead in valid])
        try:
            outputs = assign(model, valid, previous, datetime.now(UTC), X)
        except Exception as error:  # noqa: BLE001 - a bug must not lose leads: dead-letter them and go on
            log.exception("assignment failed for a batch of %d leads: dead-lettering them", len(valid))
            rejected += [Rejected(raw, "internal", f"{type(error).__name__}: {error}") for raw, _ in valid]
            valid, outputs = [], []
        s = self._settings
        messages: list[Outgoing] = []
        for (raw, _), output in zip(valid, outputs, strict=True):
            messages.append(Outgoing(s.segments_topic, raw.key, output.value, [], raw))
            if output.previous_segment_id is not None and output.previous_segment_id != output.segment_id:
                messages.append(Outgoing(s.transitions_topic, raw.key, output.value, [], raw))
        for bad in rejected:
            payload = bad.raw.value
            if bad.error_class == "oversize" and payload is not None:
                payload = payload[: s.max_event_bytes]  # the original may be too large to produce at all
            messages.append(
                Outgoing(s.dlq_topic, bad.raw.key, payload, bad.dead_letter(model.version).headers(), bad.raw)
            )
        await self._deliver(messages, model.version)
        if self._sample is not None and outputs:
            self._sample.add(X)
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
            results = await self._outbox.deliver(pending)
            retry = [
                self._instead_of(message, error, version)
                for message, error in zip(pending, results, strict=True)
                if error is not None
            ]
            if retry:
                log.warning("%d of %d messages not delivered: retrying in %.1fs", len(retry), len(pending), backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            elif backoff > 0.5:
                log.info("delivery recovered")
            pending = retry

    def _instead_of(self, message: Outgoing, error: BaseException, version: int) -> Outgoing:
        """What to send next for a message that failed with `error`."""
        if not isinstance(error, KafkaError):
            raise error
        if not isinstance(error, _NEVER_ACCEPTED):  # timeouts, lost leaders, a broker down: they pass
            return message
        reason = f"{type(error).__name__}: the broker refused the output"
        if message.topic != self._settings.dlq_topic:
            dead = Rejected(message.source, "undeliverable", reason).dead_letter(version)
            return Outgoing(self._settings.dlq_topic, message.key, message.source.value, dead.headers(), message.source)
        if message.value is not None and len(message.value) > _TRUNCATED_BYTES:
            return message._replace(
                value=message.value[:_TRUNCATED_BYTES], headers=[*message.headers, ("truncated", b"true")]
            )
        raise error
