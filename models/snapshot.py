"""The model artifact: versioned JSON with everything needed to assign leads, never pickle."""

from datetime import datetime
from typing import Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.exceptions import SnapshotError
from models.strategies import Baseline, Strategy
from segmentation.preprocessing import LeadScaler
from segmentation.profiling import SegmentProfile
from segmentation.projection import Projection
from segmentation.segmenter import DISTANCE_QUANTILES, LeadSegmenter
from segmentation.selection import KScore

__all__ = ["SCHEMA_VERSION", "FeatureStats", "ModelSnapshot", "SegmentInfo", "Selection"]

SCHEMA_VERSION: Literal[1] = 1

_Frozen = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class FeatureStats(BaseModel):
    """A feature within one segment: raw mean and median, z-score of the mean on the model's scale."""

    model_config = _Frozen
    mean: float | None
    median: float | None
    z: float | None


class SegmentInfo(BaseModel):
    """One segment: id, name, size at fit time, strategy, centroid and distance quantiles."""

    model_config = _Frozen
    id: int = Field(ge=0)
    name: str = Field(min_length=1, max_length=200)
    size: int = Field(ge=0)
    share: float = Field(ge=0, le=1)
    strategy: Strategy
    centroid: list[float]
    feature_centroid: list[float]
    distance_quantiles: dict[str, float]
    profile: dict[str, FeatureStats]


class PcaParams(BaseModel):
    model_config = _Frozen
    components: list[list[float]]
    mean: list[float]
    explained_variance_ratio: list[float]


class Selection(BaseModel):
    """How K was chosen: the recommendation, its reason and every K's scores."""

    model_config = _Frozen
    recommended_k: int
    reason: str
    scores: list[KScore]


class FitMetrics(BaseModel):
    model_config = _Frozen
    n_leads: int
    k: int
    algorithm: str = Field(pattern="^(kmeans|minibatch)$")
    inertia: float
    selection: Selection | None


class ModelSnapshot(BaseModel):
    """Everything a worker needs to assign leads, plus how the model came to be."""

    model_config = _Frozen
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
    ) -> "ModelSnapshot":
        projection = model.projection_
        selection = model.selection_
        segments = [
            SegmentInfo(
                id=i,
                name=names[i],
                size=profiles[i].size,
                share=profiles[i].share,
                strategy=strategies[i],
                centroid=model.centroids_[i].tolist(),
                feature_centroid=model.feature_centroids_[i].tolist(),
                distance_quantiles={
                    _q(q): float(v) for q, v in zip(DISTANCE_QUANTILES, model.distance_quantiles_[i], strict=True)
                },
                profile={
                    f: FeatureStats(mean=_finite(m), median=_finite(md), z=_finite(z))
                    for f, m, md, z in zip(
                        model.features, profiles[i].mean, profiles[i].median, profiles[i].z, strict=True
                    )
                },
            )
            for i in range(model.n_clusters_)
        ]
        return cls(
            version=version,
            created_at=created_at,
            random_state=model.random_state,
            training_fingerprint=fingerprint,
            features=list(model.features),
            log_features=list(model.log_features),
            scaler_mean=model.scaler_.mean_.tolist(),
            scaler_scale=model.scaler_.scale_.tolist(),
            pca=None
            if projection is None
            else PcaParams(
                components=projection.components.tolist(),
                mean=projection.mean.tolist(),
                explained_variance_ratio=projection.explained_variance_ratio.tolist(),
            ),
            segments=segments,
            baseline=baseline,
            metrics=FitMetrics(
                n_leads=len(model.labels_),
                k=model.n_clusters_,
                algorithm=model.algorithm_,
                inertia=model.inertia_,
                selection=None
                if selection is None
                else Selection(
                    recommended_k=selection.k,
                    reason=selection.reason,
                    scores=list(selection.scores),
                ),
            ),
        )

    def to_segmenter(self) -> LeadSegmenter:
        """A fitted `LeadSegmenter` that assigns exactly as the one this artifact was made from."""
        model = LeadSegmenter(
            n_clusters=len(self.segments),
            features=self.features,
            log_features=self.log_features,
            random_state=self.random_state,
        )
        scaler = LeadScaler(features=self.features, log_features=self.log_features)
        scaler.log_mask_ = np.array([f in self.log_features for f in self.features])
        scaler.mean_, scaler.scale_ = np.array(self.scaler_mean), np.array(self.scaler_scale)
        model.scaler_ = scaler
        model.projection_ = (
            None
            if self.pca is None
            else Projection(
                np.array(self.pca.components), np.array(self.pca.mean), np.array(self.pca.explained_variance_ratio)
            )
        )
        model.n_clusters_ = len(self.segments)
        model.centroids_ = np.array([s.centroid for s in self.segments])
        model.feature_centroids_ = np.array([s.feature_centroid for s in self.segments])
        model.distance_quantiles_ = np.array(
            [[s.distance_quantiles[_q(q)] for q in DISTANCE_QUANTILES] for s in self.segments]
        )
        return model

    @property
    def segment_ids(self) -> list[int]:
        return [s.id for s in self.segments]


def _q(quantile: float) -> str:
    return f"p{round(quantile * 100)}"


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None
