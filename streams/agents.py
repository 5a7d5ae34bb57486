"""The lead-routing agent: a batch of raw messages in, assignments and dead letters out, acked
only after every output is acknowledged by the broker (at-least-once)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError

from models.settings import Settings
from streams.routing import RawLead, Rejected, assign, decode
from streams.serving import ModelHolder
from streams.state import PreviousSegments

__all__ = ["BatchRouter", "Send"]

log = logging.getLogger(__name__)

# send(topic, key, value, headers) -> a future resolved when the broker acknowledges.
Send = Callable[[str, bytes | None, bytes | None, list[tuple[str, bytes]]], Awaitable[Awaitable[Any]]]

_MAX_BACKOFF = 30.0


class BatchRouter:
    """Routes one batch: validate, assign with one model, send, wait for every acknowledgement."""

    def __init__(self, settings: Settings, holder: ModelHolder, previous: PreviousSegments, send: Send) -> None:
        self._settings = settings
        self._holder = holder
        self._previous = previous
        self._send = send

    async def route(self, raws: Sequence[RawLead]) -> tuple[int, int]:
        """Route a batch; returns (assigned, dead-lettered). Returns only once all are acknowledged."""
        model = await self._holder.wait_for_model()
        valid, rejected = decode(raws, self._settings.max_event_bytes)
        previous = await self._previous.get_many([event.lead_id for _, event in valid])
        try:
            outputs = assign(model, valid, previous, datetime.now(UTC))
        except Exception as error:  # noqa: BLE001 - a bug must not lose leads: dead-letter them and go on
            log.exception("assignment failed for a batch of %d leads: dead-lettering them", len(valid))
            rejected += [Rejected(raw, "internal", f"{type(error).__name__}: {error}") for raw, _ in valid]
            valid, outputs = [], []
        messages: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
        s = self._settings
        for (raw, _), output in zip(valid, outputs, strict=True):
            value = output.model_dump_json().encode()
            messages.append((s.segments_topic, raw.key, value, []))
            if output.previous_segment_id is not None and output.previous_segment_id != output.segment_id:
                messages.append((s.transitions_topic, raw.key, value, []))
        for bad in rejected:
            messages.append((s.dlq_topic, bad.raw.key, bad.raw.value, bad.dead_letter(model.version).headers()))
        await self._deliver(messages)
        await self._previous.set_many({o.lead_id: o.segment_id for o in outputs})
        return len(outputs), len(rejected)

    async def _deliver(self, messages: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]]) -> None:
        """Send all and await every broker acknowledgement; on failure send the batch again
        (consumers de-duplicate on event_id), backing off while the broker is down."""
        backoff = 0.5
        while True:
            try:
                futures = [await self._send(*message) for message in messages]
                await asyncio.gather(*futures)
            except (KafkaError, ProducerSendError) as error:
                log.warning("delivery failed (%s): retrying the batch in %.1fs", type(error).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            if backoff > 0.5:
                log.info("delivery recovered")
            return
