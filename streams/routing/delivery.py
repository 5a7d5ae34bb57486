"""Delivering a batch's messages: sent until the broker acknowledges every one (at-least-once), a passing
failure sent again with backoff, a message the broker will never accept replaced by a dead letter."""

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from aiokafka.errors import (
    CorruptRecordException,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from streams import metrics
from streams.clients import Outbox, Outgoing
from streams.exceptions import WorkerStoppingError
from streams.routing.dead_letters import DeadLetters, Rejected, undeliverable

__all__ = ["deliver"]

log = logging.getLogger(__name__)

_FIRST_BACKOFF = 0.5
_MAX_BACKOFF = 30.0
# Errors about the message itself: sending it again can never succeed.
_NEVER_ACCEPTED = (MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError, CorruptRecordException)


async def deliver(
    outbox: Outbox,
    messages: Sequence[Outgoing],
    dead_letters: DeadLetters,
    model_version: int | None,
    stopping: Callable[[], bool],
    *,
    atomic: bool = False,
) -> list[Rejected]:
    """Send all and return once every message (or what replaced it) is acknowledged; returns the outputs
    replaced by a dead letter (the broker will never accept them), as rejected inputs. Raises
    `WorkerStoppingError` if the worker stops first. `atomic`: the outbox keeps all of an attempt or nothing (a
    transaction aborted on any failure), so every message is sent again, not only the failed ones."""
    pending, backoff, failed_since = list(messages), _FIRST_BACKOFF, 0.0
    refused: list[Rejected] = []
    while pending:
        if stopping():
            raise WorkerStoppingError("stopping with a batch not yet delivered: it will be processed again")
        results = await outbox.deliver(pending)
        errors = [error for error in results if error is not None]
        retry = [
            message if error is None else _instead_of(message, error, dead_letters, model_version, refused)
            for message, error in zip(pending, results, strict=True)
            if error is not None or (atomic and errors)
        ]
        if retry:
            # An outage is said once when it starts and once when it ends; the retries between are DEBUG.
            if not failed_since:
                failed_since = time.monotonic()
                metrics.KAFKA_DELIVERY_UP.set(0)
                log.warning(
                    "%d of %d messages not delivered: retrying in %.1fs, backing off to %.0fs (%r)",
                    len(errors), len(pending), backoff, _MAX_BACKOFF, errors[0],
                )  # fmt: skip
            else:
                log.debug("%d of %d messages not delivered: retrying in %.1fs", len(errors), len(pending), backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
        elif failed_since:
            metrics.KAFKA_DELIVERY_UP.set(1)
            log.info("delivery recovered after %.1fs", time.monotonic() - failed_since)
        pending = retry
    return refused


def _instead_of(
    message: Outgoing,
    error: BaseException,
    dead_letters: DeadLetters,
    model_version: int | None,
    refused: list[Rejected],
) -> Outgoing:
    """What to send next for a message that failed with `error`: the same message if the failure passes
    (timeouts, lost leaders, a broker down), else its dead letter (the output it replaces added to `refused`), or
    a dead letter cut shorter."""
    if not isinstance(error, KafkaError):
        raise error
    if not isinstance(error, _NEVER_ACCEPTED):
        return message
    if message.topic != dead_letters.topic:
        refused.append(bad := undeliverable(message, error))
        return dead_letters.of(bad, model_version)
    if (shorter := dead_letters.shortened(message)) is None:
        raise error
    return shorter
