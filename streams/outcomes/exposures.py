"""The hot path's last step for attribution: each delivered batch's leads recorded as exposed, in one script call per
batch that runs beside the previous segments' write. While Redis is down, batches wait (bounded) for it to answer."""

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

import orjson

from streams.exceptions import ServiceUnavailableError
from streams.outcomes.attribution import Attribution, cell_key
from streams.routing import Routed

__all__ = ["ExposureRecorder"]

log = logging.getLogger(__name__)

_HOLDOUT = b'"arm":"holdout"'  # as orjson writes SegmentAssigned's arm: found without parsing the output


class ExposureRecorder:
    """Records the leads of delivered batches as exposed (`streams.routing.Exposures`). A cell's name and assumed
    rates are read once per worker from the first output that shows it (the strategy as emitted)."""

    def __init__(
        self, attribution: Attribution, backlog: int = 200_000, clock: Callable[[], float] = time.time
    ) -> None:
        self._attribution = attribution
        self._clock = clock
        self._cells: dict[int, dict[tuple[int, bool], tuple[str, bytes]]] = {}  # per version, (segment, holdout)
        self._waiting: deque[tuple[list[tuple[str, str]], dict[str, bytes], float]] = deque()
        self._waiting_leads = 0
        self._backlog = backlog
        self._down = False

    async def record(self, model_version: int, outputs: Sequence[Routed]) -> None:
        if not outputs:
            return
        kinds = [(output.segment_id, _HOLDOUT in output.value) for output in outputs]
        cells = self._cells.setdefault(model_version, {})
        for kind in set(kinds) - cells.keys():
            cells[kind] = _cell(model_version, outputs[kinds.index(kind)])
        leads = [(output.lead_id, cells[kind][0]) for output, kind in zip(outputs, kinds, strict=True)]
        meta = dict(cells[kind] for kind in set(kinds))
        self._waiting.append((leads, meta, self._clock()))
        self._waiting_leads += len(leads)
        while self._waiting:
            batch = self._waiting[0]
            try:
                await self._attribution.expose(*batch)
            except ServiceUnavailableError:
                self._outage()
                return
            self._waiting.popleft()
            self._waiting_leads -= len(batch[0])
        if self._down:
            log.info("exposures recorded in Redis again")
        self._down = False

    def _outage(self) -> None:
        while self._waiting_leads > self._backlog and len(self._waiting) > 1:
            dropped, _, _ = self._waiting.popleft()
            self._waiting_leads -= len(dropped)
            log.warning("Redis down: %d exposures beyond the backlog of %d not recorded", len(dropped), self._backlog)
        if not self._down:
            log.warning("exposures wait for Redis to answer again (up to %d leads)", self._backlog)
        self._down = True


def _cell(model_version: int, output: Routed) -> tuple[str, bytes]:
    """The cell key of `output`'s version × segment × arm, and its name and assumed rates as emitted (JSON)."""
    emitted = orjson.loads(output.value)
    strategy = emitted["strategy"]
    about = {
        "segment_name": emitted["segment_name"],
        "close_rate": strategy["expected_close_rate"],
        "avg_deal_size": strategy["avg_deal_size"],
    }
    return cell_key(model_version, output.segment_id, emitted["arm"]), orjson.dumps(about)
