"""The hot path in order, for both engines: decode → assign → outputs and dead letters → deliver → remember.
`route` returns only after every output of the batch is acknowledged by the broker (at-least-once)."""

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np

from models.settings import Settings
from streams.activity import Activity
from streams.assign import Routed, assign
from streams.dead_letters import DeadLetters, Rejected
from streams.decode import decode
from streams.delivery import deliver
from streams.outbox import Outbox
from streams.previous import PreviousSegments
from streams.records import Outgoing, RawLead
from streams.serving import ModelHolder

__all__ = ["BatchRouter"]

log = logging.getLogger(__name__)


class BatchRouter:
    """Routes one batch with one model. `on_routed` is given the feature matrix of each batch's assigned
    leads once they are delivered (the refit sample is fed this way); `activity`, if given, counts each delivered
    batch (metrics, dashboard)."""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        previous: PreviousSegments,
        outbox: Outbox,
        on_routed: Callable[[np.ndarray], None] | None = None,
        activity: Activity | None = None,
    ) -> None:
        self._settings = settings
        self._holder = holder
        self._previous = previous
        self._outbox = outbox
        self._dead_letters = DeadLetters(settings.dlq_topic, settings.max_event_bytes)
        self._on_routed = on_routed
        self._activity = activity

    async def route(self, raws: Sequence[RawLead], stopping: Callable[[], bool]) -> tuple[int, int]:
        """Route a batch; returns (assigned, dead-lettered). Raises `WorkerStoppingError` (nothing of the
        batch acknowledged) if `stopping()` turns true first."""
        model = await self._holder.wait_for_model(stopping)
        started = time.time()
        valid, rejected, X = decode(raws, self._settings.max_event_bytes)
        previous = await self._previous.get_many([lead.lead_id for _, lead in valid])
        try:
            outputs = assign(model, valid, previous, datetime.now(UTC), X, self._settings.transition_margin)
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
        await deliver(self._outbox, messages, self._dead_letters, model.version, stopping)
        if self._activity is not None:
            self._activity.routed(len(raws), model, valid, outputs, rejected, moved, X, started)
        if self._on_routed is not None and outputs:
            self._on_routed(X)
        await self._previous.set_many({o.lead_id: o.segment_id for o in outputs})
        return len(outputs), len(rejected)
