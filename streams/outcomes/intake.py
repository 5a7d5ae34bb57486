"""The outcomes topic's batches, for both engines: validated as leads are (a malformed outcome is dead-lettered with
the same headers and reasons, `source_topic` the outcomes topic), counted against their leads' first exposures, and
only then acknowledged. While Redis is down a batch waits, so no outcome is acknowledged uncounted."""

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence

from models.events import OutcomeEvent
from models.settings import Settings
from streams import metrics
from streams.clients import Outbox, RawLead
from streams.exceptions import ServiceUnavailableError, WorkerStoppingError
from streams.outcomes.attribution import Attribution, Outcome
from streams.routing import DeadLetters, Rejected, deliver, validated

__all__ = ["OutcomeIntake"]

log = logging.getLogger(__name__)

_FIRST_BACKOFF = 0.5
_MAX_BACKOFF = 10.0


class OutcomeIntake:
    """Takes one batch of outcome messages at a time (`take`); returns once each is counted or dead-lettered."""

    def __init__(self, settings: Settings, attribution: Attribution, outbox: Outbox) -> None:
        self._attribution = attribution
        self._outbox = outbox
        self._max_bytes = settings.max_event_bytes
        self._dead_letters = DeadLetters(settings.dlq_topic, settings.max_event_bytes)

    async def take(self, raws: Sequence[RawLead], times: Sequence[float], stopping: Callable[[], bool]) -> Counter[str]:
        """Count a batch; `times[i]` is when message i was written (its time when it gives no `occurred_at`). Returns
        how many outcomes got each status. Raises `WorkerStoppingError` if the worker stops first."""
        outcomes: list[Outcome] = []
        rejected: list[Rejected] = []
        for raw, written in zip(raws, times, strict=True):
            event = validated(raw, self._max_bytes, OutcomeEvent)
            if isinstance(event, Rejected):
                rejected.append(event)
                continue
            at = event.occurred_at.timestamp() if event.occurred_at else written
            outcomes.append(Outcome(event.outcome_id, event.lead_id, event.outcome, event.amount or 0.0, at))
        statuses = Counter(await self._settled(outcomes, stopping))
        letters = [self._dead_letters.of(bad, None) for bad in rejected]
        await deliver(self._outbox, letters, self._dead_letters, None, stopping)
        for status, n in statuses.items():
            metrics.OUTCOMES.labels(status).inc(n)
        metrics.OUTCOMES.labels("dead_lettered").inc(len(rejected))
        if statuses["unattributed"] or statuses["after_window"]:
            log.info(
                "%d outcomes for leads never routed, %d after their window closed: counted as unattributed",
                statuses["unattributed"], statuses["after_window"],
            )  # fmt: skip
        return statuses

    async def _settled(self, outcomes: list[Outcome], stopping: Callable[[], bool]) -> list[str]:
        backoff = _FIRST_BACKOFF
        while True:
            try:
                return await self._attribution.settle(outcomes)
            except ServiceUnavailableError as error:
                if stopping():
                    raise WorkerStoppingError(
                        "stopping with outcomes not yet counted: they will be read again"
                    ) from error
                if backoff == _FIRST_BACKOFF:
                    log.warning("%d outcomes wait for Redis (%s)", len(outcomes), error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
