"""The hot path in order, for both engines: decode → assign → outputs and dead letters → deliver → remember (under
exactly_once the previous segments are remembered while the batch is delivered). `route` returns only after every
output of the batch is acknowledged by the broker (at-least-once), or, given a transaction (exactly_once), after
that transaction is committed."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar, cast

import numpy as np

from models.settings import Settings
from segmentation.holdout import HoldoutDraw
from streams.clients import Outbox, Outgoing, RawLead
from streams.model_plane import ModelHolder, ServingModel
from streams.routing.assign import Routed, assign
from streams.routing.dead_letters import DeadLetters, Rejected
from streams.routing.decode import Lead, decode
from streams.routing.delivery import deliver
from streams.routing.previous import PreviousSegments
from streams.routing.replay_safe import ReplaySafeSegments

__all__ = ["BatchRouter", "Exposures", "RoutedBatch", "Transaction"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RoutedBatch:
    """One delivered batch, as its listeners see it: each lead counted once, either in `outputs` (its segment
    reached Kafka; `valid[i]`, `outputs[i]` and `X[i]` are the same lead) or in `rejected` (dead-lettered: invalid,
    or an output the broker refused). `started` is when routing it began (`time.time()`), `seconds` how long it took
    to its last acknowledgement."""

    received: int
    model: ServingModel
    valid: Sequence[tuple[RawLead, Lead]]
    outputs: Sequence[Routed]
    rejected: Sequence[Rejected]
    moved: Sequence[Routed]
    X: np.ndarray
    started: float
    seconds: float = 0.0


class Exposures(Protocol):
    async def record(self, model_version: int, outputs: Sequence[Routed]) -> None:
        """Remember the leads of `outputs` as exposed to `model_version` (issue 19's attribution); never raises."""
        ...


class Transaction(Outbox, Protocol):
    """One batch's outbox under exactly_once: what it delivered becomes visible, with its input offsets, on `commit`."""

    async def commit(self) -> None: ...


class BatchRouter:
    """Routes one batch with one model, and hands each delivered batch to every listener (the refit sample and
    drift window, the operations surface's activity) before remembering its leads' segments and exposures."""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        previous: PreviousSegments | ReplaySafeSegments,
        outbox: Outbox,
        listeners: Sequence[Callable[[RoutedBatch], None]] = (),
        exposures: Exposures | None = None,
    ) -> None:
        self._settings = settings
        self._holder = holder
        self._previous = previous
        self._outbox = outbox
        self._dead_letters = DeadLetters(settings.dlq_topic, settings.max_event_bytes)
        self._listeners = tuple(listeners)
        self._exposures = exposures
        self._holdout = HoldoutDraw(settings.holdout_share, settings.holdout_salt)

    async def route(
        self, raws: Sequence[RawLead], stopping: Callable[[], bool], transaction: Transaction | None = None
    ) -> tuple[int, int]:
        """Route a batch; returns (assigned, dead-lettered). Raises `WorkerStoppingError` (nothing of the
        batch acknowledged) if `stopping()` turns true first. With a `transaction` the outputs go through it and
        it is committed once the batch is remembered; the listeners hear of the batch only after that."""
        model = await self._holder.wait_for_model(stopping)
        started = time.time()
        valid, rejected, X = decode(raws, self._settings.max_event_bytes)
        if isinstance(self._previous, ReplaySafeSegments):
            previous = await self._previous.recall(valid)
        else:
            previous = await self._previous.get_many([lead.lead_id for _, lead in valid])
        try:
            outputs = assign(
                model, valid, previous, datetime.now(UTC), X, self._settings.transition_margin, self._holdout
            )
        except Exception as error:  # noqa: BLE001 - a bug must not lose leads: dead-letter them and go on
            log.exception("assignment failed for a batch of %d leads: dead-lettering them", len(valid))
            rejected += [Rejected(raw, "internal", f"{type(error).__name__}: {error}") for raw, _ in valid]
            valid, outputs = [], []
        s = self._settings
        messages: list[Outgoing] = []
        moved: list[Routed] = []
        for (raw, _), output in zip(valid, outputs, strict=True):
            messages.append(Outgoing(s.segments_topic, raw.key, output.value, [], raw))
            if output.transition is not None:
                messages.append(Outgoing(s.transitions_topic, raw.key, output.transition, [], raw))
                moved.append(output)
        messages += [self._dead_letters.of(bad, model.version) for bad in rejected]
        outbox = self._outbox if transaction is None else transaction
        delivering = deliver(
            outbox, messages, self._dead_letters, model.version, stopping, atomic=transaction is not None
        )
        if isinstance(self._previous, ReplaySafeSegments):  # nothing is visible before the commit: both at once
            refused = await _both(delivering, self._previous.remember(valid, outputs))
        else:
            refused = await delivering
        seconds = time.time() - started
        unsent: list[tuple[RawLead, Routed]] = []
        if refused:
            valid, outputs, X, unsent, refused = _delivered(valid, outputs, X, refused)
            rejected += refused
            moved = [output for output in outputs if output.transition is not None]
        await self._remember(model.version, valid, outputs, unsent)
        if transaction is not None:
            await transaction.commit()
        batch = RoutedBatch(len(raws), model, valid, outputs, rejected, moved, X, started, seconds)
        for listener in self._listeners:
            listener(batch)
        return len(outputs), len(rejected)

    async def _remember(
        self,
        model_version: int,
        valid: Sequence[tuple[RawLead, Lead]],
        outputs: Sequence[Routed],
        unsent: Sequence[tuple[RawLead, Routed]],
    ) -> None:
        """The delivered leads remembered in their segments, and as exposed, in two Redis calls at once. Under
        exactly_once the segments were written beside the delivery: again only if some outputs were refused."""
        calls: list[Awaitable[None]] = []
        if self._exposures is not None:
            calls.append(self._exposures.record(model_version, outputs))
        if not isinstance(self._previous, ReplaySafeSegments):
            calls.append(self._previous.set_many({o.lead_id: o.segment_id for o in outputs}))
        elif unsent:
            calls.append(self._previous.remember(valid, outputs, unsent))
        await asyncio.gather(*calls)


async def _both(first: Awaitable[T], second: Awaitable[object]) -> T:
    """`first`'s result once both have ended (neither is left running when the other fails), or the first error."""
    ended = await asyncio.gather(first, second, return_exceptions=True)
    for outcome in ended:
        if isinstance(outcome, BaseException):
            raise outcome
    return cast(T, ended[0])


def _delivered(
    valid: Sequence[tuple[RawLead, Lead]], outputs: Sequence[Routed], X: np.ndarray, refused: Sequence[Rejected]
) -> tuple[list[tuple[RawLead, Lead]], list[Routed], np.ndarray, list[tuple[RawLead, Routed]], list[Rejected]]:
    """The leads of a batch whose outputs all reached Kafka, the others with the output that did not, and one
    `Rejected` per lead with an output the broker refused: that lead was dead-lettered instead, so it is neither
    counted as assigned nor remembered in that segment."""
    gone = {id(bad.raw): bad for bad in refused}
    kept = np.array([id(raw) not in gone for raw, _ in valid], dtype=bool)
    return (
        [pair for pair, keep in zip(valid, kept, strict=True) if keep],
        [output for output, keep in zip(outputs, kept, strict=True) if keep],
        X[kept],
        [(raw, output) for (raw, _), output, keep in zip(valid, outputs, kept, strict=True) if not keep],
        list(gone.values()),
    )
