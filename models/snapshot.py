"""The model artifact: versioned JSON with everything needed to assign leads, never pickle."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal, Self

import numpy as np
from pydantic import BaseModel, Field, ValidationError, model_validator

from models.exceptions import SnapshotError
from models.snapshot_parts import (
    FROZEN,
    FeatureStats,
    FitMetrics,
    GateReport,
    LineageEntry,
    PcaParams,
    SegmentInfo,
    Selection,
)
from models.strategies import Baseline, Calibration, Strategy, strategies_basis
from segmentation.drift import DriftFigures
from segmentation.impact import Impact, business_impact
from segmentation.preprocessing import ScalerState
from segmentation.profiling import SegmentProfile
from segmentation.segmenter import DISTANCE_QUANTILES, LeadSegmenter, PcaState, SegmenterState
from segmentation.selection import KSelection

__all__ = ["SCHEMA_VERSION", "ModelSnapshot"]

SCHEMA_VERSION: Literal[1] = 1


class ModelSnapshot(BaseModel):
    """Everything a worker needs to assign leads, plus how the model came to be."""

    model_config = FROZEN
    schema_version: Literal[1] = SCHEMA_VERSION
    version: int = Field(ge=1)
    created_at: datetime
    random_state: int
    training_fingerprint: str
    features: list[str]
    log_features: list[str]
    scaler_mean: list[float]
    scaler_scale: list[float]
    pca: PcaParams | None
    segments: list[SegmentInfo] = Field(min_length=1)
    baseline: Baseline
    metrics: FitMetrics
    gate: GateReport | None = None  # set on a refit: the scores that let it be served
    restored_from: int | None = Field(default=None, ge=1)  # set on a rollback or pin: the version whose content this is
    # How this version was made current: `segmenter publish`, a refit, a rollback or a pin; None in older artifacts
    # and in a model file `fit` writes, which leaves it out so that a worker from before the field still reads it.
    made_by: Literal["publish", "refit", "rollback", "pin"] | None = Field(default=None, exclude_if=lambda v: v is None)
    lineage: list[LineageEntry] | None = None  # set on a refit: each segment kept, new, retired, split or merged
    # The largest segment id ever used in this model's line, so that none is used again; None: the largest here.
    segment_id_high_water: int | None = Field(default=None, ge=0)
    # What the strategies' rates were calibrated on (`segmenter impact --write-strategies`); None: assumed. Left out
    # when None, so that a worker from before the field still reads the model.
    calibration: Calibration | None = Field(default=None, exclude_if=lambda v: v is None)
    # The share of training leads beyond every segment's radius (its p99 distance); None in older artifacts.
    beyond_radius_share: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _shapes_agree(self) -> Self:
        p = len(self.features)
        if len(self.scaler_mean) != p or len(self.scaler_scale) != p:
            raise ValueError(f"scaler needs {p} values per feature list")
        if any(scale <= 0 for scale in self.scaler_scale):
            raise ValueError("scaler_scale values must be positive")
        if not set(self.log_features) <= set(self.features):
            raise ValueError("log_features must be among features")
        dims = len(self.pca.components) if self.pca else p
        if self.pca and (any(len(row) != p for row in self.pca.components) or len(self.pca.mean) != p):
            raise ValueError(f"PCA components and mean need {p} values each")
        quantiles = {_q(q) for q in DISTANCE_QUANTILES}
        for segment in self.segments:
            if len(segment.centroid) != dims or len(segment.feature_centroid) != p:
                raise ValueError(f"segment {segment.id}: centroid needs {dims} values, feature_centroid {p}")
            if set(segment.distance_quantiles) != quantiles:
                raise ValueError(f"segment {segment.id}: distance_quantiles needs exactly {sorted(quantiles)}")
        ids = [s.id for s in self.segments]
        if len(set(ids)) != len(ids):
            raise ValueError("segment ids must be distinct")
        if self.segment_id_high_water is not None and self.segment_id_high_water < max(ids):
            raise ValueError("segment_id_high_water is below a segment id")
        measured = {self.beyond_radius_share is not None}
        measured |= {s.mean_distance is not None and s.outlier_share is not None for s in self.segments}
        if len(measured) > 1:
            raise ValueError(
                "drift baseline: beyond_radius_share and every segment's mean_distance and outlier_share, or none"
            )
        return self

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelSnapshot":
        """Validate an artifact; the error names the first field at fault."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "model"
            raise SnapshotError(f"not a valid model file: {where}: {first['msg']}") from error

    @classmethod
    def from_segmenter(
        cls,
        model: LeadSegmenter,
        *,
        names: list[str],
        strategies: list[Strategy],
        profiles: tuple[SegmentProfile, ...],
        baseline: Baseline,
        version: int,
        created_at: datetime,
        fingerprint: str,
        fit: DriftFigures,
        calibration: Calibration | None = None,
    ) -> "ModelSnapshot":
        """The artifact of a fitted model (`LeadSegmenter.to_state`), with each segment's name,
        strategy and profile, and `fit`, the training leads' drift figures (`segmentation.drift.drift_figures`)."""
        state = model.to_state()
        segments = [
            SegmentInfo(
                id=i,
                name=names[i],
                size=profiles[i].size,
                share=profiles[i].share,
                strategy=strategies[i],
                centroid=list(state.centroids[i]),
                feature_centroid=list(state.feature_centroids[i]),
                distance_quantiles={
                    _q(q): v for q, v in zip(DISTANCE_QUANTILES, state.distance_quantiles[i], strict=True)
                },
                profile={
                    f: FeatureStats(mean=_finite(m), median=_finite(md), z=_finite(z))
                    for f, m, md, z in zip(
                        state.scaler.features, profiles[i].mean, profiles[i].median, profiles[i].z, strict=True
                    )
                },
                # a segment without training leads (NaN) counts as at its centroid, with no outliers
                mean_distance=float(np.nan_to_num(fit.mean_distances[i])),
                outlier_share=float(np.nan_to_num(fit.outlier_shares[i])),
            )
            for i in range(len(state.centroids))
        ]
        selection = state.selection
        return cls(
            version=version,
            created_at=created_at,
            random_state=state.random_state,
            training_fingerprint=fingerprint,
            features=list(state.scaler.features),
            log_features=list(state.scaler.log_features),
            scaler_mean=list(state.scaler.mean),
            scaler_scale=list(state.scaler.scale),
            pca=None
            if state.pca is None
            else PcaParams(
                components=[list(row) for row in state.pca.components],
                mean=list(state.pca.mean),
                explained_variance_ratio=list(state.pca.explained_variance_ratio),
            ),
            segments=segments,
            baseline=baseline,
            calibration=calibration,
            beyond_radius_share=fit.beyond_share,
            metrics=FitMetrics(
                n_leads=state.n_leads,
                k=len(segments),
                algorithm=state.algorithm,
                inertia=state.inertia,
                selection=None
                if selection is None
                else Selection(recommended_k=selection.k, reason=selection.reason, scores=list(selection.scores)),
            ),
        )

    def to_state(self) -> SegmenterState:
        """The fitted model's state as this artifact stores it."""
        selection = self.metrics.selection
        return SegmenterState(
            scaler=ScalerState(
                tuple(self.features), tuple(self.log_features), tuple(self.scaler_mean), tuple(self.scaler_scale)
            ),
            pca=None
            if self.pca is None
            else PcaState(
                tuple(tuple(row) for row in self.pca.components),
                tuple(self.pca.mean),
                tuple(self.pca.explained_variance_ratio),
            ),
            centroids=tuple(tuple(s.centroid) for s in self.segments),
            feature_centroids=tuple(tuple(s.feature_centroid) for s in self.segments),
            distance_quantiles=tuple(
                tuple(s.distance_quantiles[_q(q)] for q in DISTANCE_QUANTILES) for s in self.segments
            ),
            random_state=self.random_state,
            algorithm=self.metrics.algorithm,
            inertia=self.metrics.inertia,
            n_leads=self.metrics.n_leads,
            selection=None
            if selection is None
            else KSelection(selection.recommended_k, selection.reason, tuple(selection.scores)),
        )

    def to_segmenter(self) -> LeadSegmenter:
        """A fitted `LeadSegmenter` that assigns exactly as the one this artifact was made from, with its
        K, inertia, algorithm and K selection; it has no `labels_` (see `LeadSegmenter.from_state`)."""
        return LeadSegmenter.from_state(self.to_state())

    def impact(self, sizes: Sequence[int]) -> Impact:
        """Expected revenue of `sizes[i]` leads in segment i under each segment's strategy, against
        the same leads in this model's one-campaign baseline."""
        return business_impact(
            sizes,
            [s.strategy.expected_close_rate for s in self.segments],
            [s.strategy.avg_deal_size for s in self.segments],
            baseline_conversion=self.baseline.conversion_rate,
            baseline_deal_size=self.baseline.avg_deal_size,
        )

    @property
    def basis(self) -> str:
        """What this model's expected revenue rests on: assumed or calibrated strategies."""
        return strategies_basis(self.calibration)

    def drift_baseline(self) -> DriftFigures | None:
        """The training leads' figures drift is measured against, per segment in this model's order; None for an
        artifact made before they were stored."""
        if self.beyond_radius_share is None:
            return None
        sizes = np.array([s.size for s in self.segments])
        return DriftFigures(
            leads=int(sizes.sum()),
            counts=sizes,
            shares=np.array([s.share for s in self.segments]),
            mean_distances=np.array([s.mean_distance for s in self.segments], dtype=np.float64),
            outlier_shares=np.array([s.outlier_share for s in self.segments], dtype=np.float64),
            beyond_share=self.beyond_radius_share,
        )

    @property
    def segment_ids(self) -> list[int]:
        return [s.id for s in self.segments]

    @property
    def high_water(self) -> int:
        """The largest segment id ever used in this model's line: a fresh id is above it."""
        return max(self.segment_id_high_water or 0, *self.segment_ids)

    @property
    def content_version(self) -> int:
        """The version whose fitted content this is: itself, or the one it was restored from."""
        return self.restored_from or self.version

    def restored(self, version: int, current: "ModelSnapshot", made_by: Literal["rollback", "pin"]) -> "ModelSnapshot":
        """This content under a new `version` that records where it came from and whether a rollback or a pin made
        it (versions never go back). Its gate and lineage were about how it once replaced another model, so they
        are not carried; segment ids stay above every id `current` has used, so that no later refit reuses one."""
        return self.model_copy(
            update={
                "version": version,
                "restored_from": self.content_version,
                "made_by": made_by,
                "created_at": datetime.now(UTC),
                "gate": None,
                "lineage": None,
                "segment_id_high_water": max(self.high_water, current.high_water),
            }
        )


def _q(quantile: float) -> str:
    return f"p{round(quantile * 100)}"


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None
