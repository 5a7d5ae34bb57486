"""What a worker says about drift in the `status` reply: its recent leads' figures against the served model's
fit-time ones (`segmentation.drift`)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DriftReport", "DriftState", "SegmentDrift"]

_Frozen = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

DriftState = Literal["no_model", "no_baseline", "filling", "steady", "drifting", "drifting_refused"]


class SegmentDrift(BaseModel):
    """One segment's figures over the window, beside the training leads' (`fit_*`); None without leads in it."""

    model_config = _Frozen
    segment_id: int = Field(ge=0)
    leads: int = Field(ge=0, description="sampled leads of the window in this segment")
    share: float = Field(ge=0, le=1)
    fit_share: float = Field(ge=0, le=1)
    mean_distance: float | None = Field(default=None, ge=0)
    fit_mean_distance: float = Field(ge=0)
    outlier_share: float | None = Field(default=None, ge=0, le=1)
    fit_outlier_share: float = Field(ge=0, le=1)


class DriftReport(BaseModel):
    """How the leads this worker routed lately sit in the served model, against its training leads. `state`:
    `no_model` served yet, `no_baseline` (a model file made before drift figures were stored), `filling` (fewer
    sampled leads than `SEGMENTER_DRIFT_MIN_LEADS` in the window), `steady`, `drifting`, or `drifting_refused`:
    drifting, and the refit this worker ran on drift since was refused, so the model served is stale (`refused_*`
    say when and why). `score` is the largest figure as a fraction of its threshold: drifting from 1, steady again
    below 0.8."""

    model_config = _Frozen
    state: DriftState
    model_version: int | None = None
    leads: int = Field(default=0, ge=0, description="sampled leads in the window")
    window_leads: int = Field(ge=1, description="most sampled leads the window holds")
    window_seconds: float = Field(ge=0, description="sampled leads older than this leave the window (0: never)")
    score: float | None = Field(default=None, ge=0)
    reasons: list[str] = Field(default=[], description="the figures past a threshold")
    beyond_radius_share: float | None = Field(
        default=None, ge=0, le=1, description="leads beyond every segment's radius"
    )
    fit_beyond_radius_share: float | None = Field(default=None, ge=0, le=1)
    segments: list[SegmentDrift] = []
    since: datetime | None = Field(default=None, description="when this worker last judged a change to this state")
    last_refit_request: datetime | None = Field(default=None, description="the leader's last refit asked for on drift")
    refused_at: datetime | None = Field(
        default=None, description="in drifting_refused: when the refit asked for on drift was refused"
    )
    refused_reasons: list[str] = Field(default=[], description="in drifting_refused: why that refit was refused")
