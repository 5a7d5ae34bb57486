"""What the worker routed lately: counted once per batch into Prometheus, kept in a short window for the
dashboard (per-segment counts, recent transitions and dead letters, a sample of feature rows), and said in a
progress line (`progress`, which the worker calls every `progress_seconds`) when leads were routed since the last.
Nothing here runs once per lead in Python except one C-level count of the batch's segment ids."""

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from segmentation.features import FEATURES
from streams import metrics
from streams.clients import RawLead
from streams.routing import Lead, Rejected, Routed, RoutedBatch

__all__ = ["Activity", "Window"]

log = logging.getLogger(__name__)

_SEGMENT_ID = itemgetter(1)  # Routed.segment_id
_LATENCY_SAMPLES = 8  # leads of a sampled batch whose latency is observed
_SAMPLE_SECONDS = 0.1  # at most this often a batch gives rows to the scatter and latencies to the histogram


@dataclass(frozen=True)
class Window:
    """Counts over the last `seconds`: leads read, assigned per segment id, dead-lettered."""

    seconds: float
    received: int
    assigned: dict[int, int]
    dead_lettered: int
    per_second: float  # leads read per second over the last 10 s


class Activity:
    """Fed by the router once per delivered batch (`routed`); read by the web server."""

    def __init__(
        self,
        *,
        window_seconds: float = 300,
        points: int = 2000,
        points_per_batch: int = 32,
        recent: int = 25,
        progress_seconds: float = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self.started_at = clock()
        self.window_seconds = window_seconds
        self.received = 0
        self.assigned: Counter[int] = Counter()
        self.dead_lettered: Counter[str] = Counter()
        self.transitions = 0
        self.segment_names: dict[int, str] = {}
        self.recent_transitions: deque[dict[str, Any]] = deque(maxlen=recent)
        self.recent_dead_letters: deque[dict[str, Any]] = deque(maxlen=recent)
        self._buckets: deque[tuple[int, list[Any]]] = deque()  # (second, [received, Counter assigned, dead])
        self._rows = np.zeros((points, len(FEATURES)))
        self._row_segments = np.full(points, -1, dtype=np.int64)
        self._next_row = 0
        self._version = 0
        self._points_per_batch = points_per_batch
        self.progress_seconds = progress_seconds
        self._progress_at = self.started_at
        self._progress_from = 0
        self._busy = 0.0  # seconds spent routing the batches since the last progress line
        self._sampled_at = 0.0
        self._assigned_counters: dict[int, Any] = {}  # the labelled child per segment id, looked up once

    def routed(self, batch: RoutedBatch) -> None:
        """Count a batch whose outputs are acknowledged (the router's listener)."""
        now, model, outputs, rejected, moved = self._clock(), batch.model, batch.outputs, batch.rejected, batch.moved
        if model.version != self._version:
            self._version = model.version
            self.segment_names.update((segment_id, name) for segment_id, name, _ in model.segments)
        by_segment = Counter(map(_SEGMENT_ID, outputs))
        dead = Counter(r.error_class for r in rejected)
        self.received += batch.received
        self._busy += batch.seconds
        self.assigned.update(by_segment)
        self.dead_lettered.update(dead)
        self.transitions += len(moved)
        self._count_in_window(now, batch.received, by_segment, len(rejected))
        metrics.RECEIVED.inc(batch.received)
        for segment_id, count in by_segment.items():
            if (counter := self._assigned_counters.get(segment_id)) is None:
                counter = self._assigned_counters[segment_id] = metrics.ASSIGNED.labels(segment_id=str(segment_id))
            counter.inc(count)
        for error_class, count in dead.items():
            metrics.DEAD_LETTERED.labels(error_class=error_class).inc(count)
        if moved:
            metrics.TRANSITIONS.inc(len(moved))
            self._remember_transitions(now, moved, model.version)
        if rejected:
            self._remember_dead_letters(now, rejected)
        metrics.BATCH_SIZE.observe(batch.received)
        metrics.BATCH_SECONDS.observe(max(now - batch.started, 0.0))
        if outputs and now - self._sampled_at >= _SAMPLE_SECONDS:
            self._sampled_at = now
            self._observe_latency(now, batch.valid)
            self._keep_rows(batch.X, outputs)

    def window(self) -> Window:
        """The counts of the last `window_seconds`."""
        now = self._clock()
        self._expire(now)
        received, dead, assigned = 0, 0, Counter[int]()
        recent = 0
        for second, (n, by_segment, d) in self._buckets:
            received, dead = received + n, dead + d
            assigned.update(by_segment)
            if second > now - 10:
                recent += n
        return Window(
            self.window_seconds, received, dict(assigned), dead, recent / min(10.0, max(now - self.started_at, 1.0))
        )

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """The sampled feature rows of recent leads and their segment ids."""
        kept = self._row_segments >= 0
        return self._rows[kept], self._row_segments[kept]

    def _count_in_window(self, now: float, received: int, by_segment: Counter[int], dead: int) -> None:
        second = int(now)
        if self._buckets and self._buckets[-1][0] == second:
            bucket = self._buckets[-1][1]
            bucket[0] += received
            bucket[1].update(by_segment)
            bucket[2] += dead
        else:
            self._buckets.append((second, [received, by_segment, dead]))
            self._expire(now)

    def _expire(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] <= now - self.window_seconds:
            self._buckets.popleft()

    def _remember_transitions(self, now: float, moved: Sequence[Routed], version: int) -> None:
        for output in moved[-(self.recent_transitions.maxlen or 1) :]:
            self.recent_transitions.appendleft(
                {
                    "at": now,
                    "lead_id": output.lead_id,
                    "from_segment_id": output.previous_segment_id,
                    "to_segment_id": output.segment_id,
                    "model_version": version,
                }
            )

    def _remember_dead_letters(self, now: float, rejected: Sequence[Rejected]) -> None:
        # The reason, class and source offset only: never the payload.
        for bad in rejected[-(self.recent_dead_letters.maxlen or 1) :]:
            self.recent_dead_letters.appendleft(
                {
                    "at": now,
                    "error_class": bad.error_class,
                    "reason": bad.reason[:200],
                    "topic": bad.raw.topic,
                    "partition": bad.raw.partition,
                    "offset": bad.raw.offset,
                }
            )

    def _observe_latency(self, now: float, valid: Sequence[tuple[RawLead, Lead]]) -> None:
        for raw, lead in valid[:: max(1, len(valid) // _LATENCY_SAMPLES)][:_LATENCY_SAMPLES]:
            if lead.occurred_at is not None:
                event_time = lead.occurred_at.timestamp()
            elif (timestamp := getattr(raw, "timestamp", None)) is not None and timestamp > 0:
                event_time = timestamp / 1000
            else:
                continue
            metrics.ASSIGNMENT_LATENCY.observe(max(now - event_time, 0.0))

    def _keep_rows(self, X: np.ndarray, outputs: Sequence[Routed]) -> None:
        step = max(1, len(outputs) // self._points_per_batch)
        rows = X[::step][: self._points_per_batch]
        segments = [output.segment_id for output in outputs[::step][: self._points_per_batch]]
        start = self._next_row
        end = min(start + len(rows), len(self._rows))
        self._rows[start:end] = rows[: end - start]
        self._row_segments[start:end] = segments[: end - start]
        self._next_row = end % len(self._rows)

    def progress(self) -> None:
        """Log what was routed since the last line, if anything: its rate while routing (idle time left out),
        the totals, and the lag as `segmenter_consumer_lag_records` shows it now (between batches, when called
        from a timer)."""
        now = self._clock()
        leads, seconds, busy = self.received - self._progress_from, now - self._progress_at, self._busy
        if not leads:
            self._progress_at = now
            return
        log.info(
            "routed %d leads in the last %.0fs (%.0f/s over the %.0f ms spent routing them); %d assigned, %d "
            "dead-lettered since start; lag %d",
            leads,
            seconds,
            leads / busy if busy > 0 else 0.0,
            busy * 1000,
            self.assigned.total(),
            self.dead_lettered.total(),
            sum(metrics.consumer_lag().values()),
        )
        self._progress_at, self._progress_from, self._busy = now, self.received, 0.0
