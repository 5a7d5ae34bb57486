"""Drift of the served model: a window of the leads a worker routed lately, judged against the figures the
model's training leads gave; a change of state is logged once, and the leader asks for a refit on drift, at most
once per `drift_refit_min_seconds`.

On the hot path only `observe` runs, once per delivered batch: it copies at most `drift_rows_per_batch` evenly
spaced feature rows into a ring. The rows are placed in the served model when drift is judged (`check`, on a
timer, and `report`, for `status`), so a model swap needs no new window: the same recent leads are judged against
the new model's own fit-time figures."""

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import numpy as np

from models.control import LastRefit
from models.drift import DriftReport, DriftState, SegmentDrift
from models.settings import Settings
from segmentation.drift import DriftThresholds, drift_figures, drift_reasons, drift_score, place
from segmentation.features import FEATURES
from streams import metrics
from streams.model_plane.serving import ServingModel

__all__ = ["CALM", "DriftMonitor", "RefitRequests"]

log = logging.getLogger(__name__)

# Once drifting, the state stays so until the score falls below this (not at 1), so that figures hovering at a
# threshold do not log a change on every check.
CALM = 0.8


class RefitRequests(Protocol):
    """What the monitor needs of the refitter (`Refitter`): whether one runs, how the last one ended, a request."""

    @property
    def running(self) -> bool: ...

    @property
    def last(self) -> LastRefit | None: ...

    def request(self, cause: str, request_id: str | None = None) -> bool: ...


class DriftMonitor:
    """Fed by the router (`observe`), judged on the drift timer (`check`) and by `status` (`report`)."""

    def __init__(
        self,
        settings: Settings,
        served: Callable[[], ServingModel | None],
        refits: RefitRequests,
        clock: Callable[[], float] = time.time,
    ) -> None:
        s = settings
        self._settings = settings
        self._served = served
        self._refits = refits
        self._clock = clock
        self._thresholds = DriftThresholds(
            distance_ratio=s.drift_distance_ratio,
            outlier_excess=s.drift_outlier_excess,
            traffic_shift=s.drift_traffic_shift,
        )
        self._rows = np.zeros((s.drift_window_leads, len(FEATURES)))
        self._at = np.full(s.drift_window_leads, -np.inf)  # when each row was observed; -inf: empty
        self._next = 0
        self._judged: DriftState | None = None  # the last state logged: steady or drifting
        self._judged_version: int | None = None  # the model last judged: a swap drops the hysteresis
        self._since: float | None = None
        self._requested_at: float | None = None
        self._unmeasured: set[int] = set()  # versions without a baseline, said once each
        self.judged: DriftReport | None = None  # the timer's last judgement, for the dashboard

    def observe(self, X: np.ndarray) -> None:
        """Keep at most `drift_rows_per_batch` evenly spaced rows of a delivered batch's feature matrix."""
        per_batch = self._settings.drift_rows_per_batch
        size = len(self._rows)
        rows = (X[:: -(-len(X) // per_batch)] if len(X) > per_batch else X)[-size:]
        n = len(rows)
        first = min(n, size - self._next)
        self._rows[self._next : self._next + first] = rows[:first]
        self._rows[: n - first] = rows[first:]
        self._at[self._next : self._next + first] = self._at[: n - first] = self._clock()
        self._next = (self._next + n) % size

    def report(self) -> DriftReport:
        """The window's figures against the served model's fit-time ones, and the state they put it in."""
        s, model = self._settings, self._served()
        report = DriftReport(state="no_model", window_leads=s.drift_window_leads, window_seconds=s.drift_window_seconds)
        if model is None:
            return report
        fit = model.snapshot.drift_baseline()
        if fit is None:
            return report.model_copy(update={"state": "no_baseline", "model_version": model.version})
        X = self._window()
        report = report.model_copy(
            update={
                "state": "filling",
                "model_version": model.version,
                "leads": len(X),
                "last_refit_request": _when(self._requested_at),
            }
        )
        if len(X) < s.drift_min_leads:
            return report
        now = drift_figures(place(model.segmenter, X), len(model.segments))
        score = drift_score(fit, now, self._thresholds)
        held = self._judged in _DRIFTING and self._judged_version == model.version and score >= CALM
        state: DriftState = "drifting" if score >= 1 or held else "steady"
        refused = self._refused(model.version) if state == "drifting" else None
        if refused is not None:
            state = "drifting_refused"
            report = report.model_copy(update={"refused_at": refused.at, "refused_reasons": refused.reasons})
        ids = model.snapshot.segment_ids
        segments = [
            SegmentDrift(
                segment_id=ids[i],
                leads=int(now.counts[i]),
                share=round(float(now.shares[i]), 4),
                fit_share=round(float(fit.shares[i]), 4),
                mean_distance=_figure(now.mean_distances[i]),
                fit_mean_distance=round(float(fit.mean_distances[i]), 4),
                outlier_share=_figure(now.outlier_shares[i]),
                fit_outlier_share=round(float(fit.outlier_shares[i]), 4),
            )
            for i in range(len(ids))
        ]
        return report.model_copy(
            update={
                "state": state,
                "score": score,
                "reasons": list(drift_reasons(fit, now, self._thresholds, ids)),
                "beyond_radius_share": round(now.beyond_share, 4),
                "fit_beyond_radius_share": round(fit.beyond_share, 4),
                "segments": segments,
                "since": _when(self._since) if state == self._judged else None,
            }
        )

    def check(self, *, leader: bool) -> DriftReport:
        """Judge the window: log a change of state (or a model without a baseline) once, and on the leader, while
        drifting, ask for a refit with the reasons as its cause unless one was asked for lately or one runs."""
        report = self.report()
        metrics.DRIFT_SCORE.set(float("nan") if report.score is None else report.score)
        metrics.MODEL_STALE.set(report.state == "drifting_refused")
        if report.state == "no_baseline" and report.model_version not in self._unmeasured:
            self._unmeasured.add(report.model_version or 0)
            log.warning(
                "drift: model %s has no fit-time figures (made before they were stored): drift is not judged "
                "until a model fitted since is served",
                report.model_version,
            )
        if report.state in _JUDGED:
            self._judged_version = report.model_version
        if report.state in _JUDGED and report.state != self._judged:
            self._judged, self._since = report.state, self._clock()
            report = report.model_copy(update={"since": _when(self._since)})
            self._say(report)
        if leader and report.state in _DRIFTING and report.reasons and self._refit_due():
            if self._refits.request("drift: " + "; ".join(report.reasons)):
                self._requested_at = self._clock()
                report = report.model_copy(update={"last_refit_request": _when(self._requested_at)})
        self.judged = report
        return report

    def _refused(self, version: int) -> LastRefit | None:
        """The refit asked for on drift since this drift began, if it was refused and `version` is still served."""
        last = self._refits.last
        if last is None or not last.cause.startswith("drift") or last.outcome not in ("rejected", "error"):
            return None
        began = self._since if self._judged in _DRIFTING else self._clock()
        return last if last.version == version and began is not None and last.at.timestamp() >= began else None

    @staticmethod
    def _say(report: DriftReport) -> None:
        """A change of state, once."""
        judged = f"(score {report.score:.2f} on {report.leads} leads){_why(report.reasons)}"
        if report.state == "steady":
            log.info("drift: steady %s", judged)
        elif report.state == "drifting":
            log.warning("drift: drifting %s", judged)
        else:
            log.warning(
                "drift: the refit asked for on drift was refused (%s): model %s stays served while drifting %s. To "
                "serve another: `segmenter set-k K` then `segmenter refit`, `segmenter pin VERSION`, or `segmenter "
                "publish MODEL.json`",
                "; ".join(report.refused_reasons), report.model_version, judged,
            )  # fmt: skip

    def _refit_due(self) -> bool:
        if self._refits.running:
            return False
        waited = None if self._requested_at is None else self._clock() - self._requested_at
        return waited is None or waited >= self._settings.drift_refit_min_seconds

    def _window(self) -> np.ndarray:
        seconds = self._settings.drift_window_seconds
        oldest = self._clock() - seconds if seconds else -np.inf
        return self._rows[self._at > oldest]


_JUDGED = ("steady", "drifting", "drifting_refused")
_DRIFTING = ("drifting", "drifting_refused")


def _figure(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def _when(at: float | None) -> datetime | None:
    return None if at is None else datetime.fromtimestamp(at, UTC)


def _why(reasons: list[str]) -> str:
    return f": {'; '.join(reasons)}" if reasons else ""
