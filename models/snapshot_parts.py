"""The parts of the model artifact (models/snapshot.py): each segment, the PCA, how K was chosen, the fit's figures,
the quality gate's report and the lineage, all frozen and strict (unknown fields and NaN refused)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from models.strategies import Strategy
from segmentation.selection import KScore

__all__ = [
    "FROZEN",
    "FeatureStats",
    "FitMetrics",
    "GateReport",
    "LineageEntry",
    "PcaParams",
    "SegmentInfo",
    "Selection",
]

FROZEN = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class FeatureStats(BaseModel):
    """A feature within one segment: raw mean and median, z-score of the mean on the model's scale."""

    model_config = FROZEN
    mean: float | None
    median: float | None
    z: float | None


class SegmentInfo(BaseModel):
    """One segment: id, name, size at fit time, strategy, centroid and distance quantiles."""

    model_config = FROZEN
    id: int = Field(ge=0)
    name: str = Field(min_length=1, max_length=200)
    size: int = Field(ge=0)
    share: float = Field(ge=0, le=1)
    strategy: Strategy
    centroid: list[float]
    feature_centroid: list[float]
    distance_quantiles: dict[str, float]
    profile: dict[str, FeatureStats]
    # The training leads' figures drift is measured against (`segmentation.drift`); None in older artifacts.
    mean_distance: float | None = Field(default=None, ge=0)
    outlier_share: float | None = Field(default=None, ge=0, le=1)


class PcaParams(BaseModel):
    model_config = FROZEN
    components: list[list[float]]
    mean: list[float]
    explained_variance_ratio: list[float]


class Selection(BaseModel):
    """How K was chosen: the recommendation, its reason and every K's scores."""

    model_config = FROZEN
    recommended_k: int
    reason: str
    scores: list[KScore]


class FitMetrics(BaseModel):
    model_config = FROZEN
    n_leads: int
    k: int
    algorithm: str = Field(pattern="^(kmeans|minibatch)$")
    inertia: float
    selection: Selection | None


class GateReport(BaseModel):
    """The quality gate's decision on a refit candidate: both models scored on the same held-out leads
    (`segmentation.gate`), and why it was promoted or not."""

    model_config = FROZEN
    decision: Literal["promoted", "rejected"]
    reasons: list[str]
    served_version: int
    k: int
    served_k: int
    held_out: int = Field(ge=0)
    moved_share: float = Field(ge=0, le=1)
    candidate: dict[str, float]
    served: dict[str, float]
    # The part of `moved_share` the lineage explains (segment retired, split, merged, new from unseen traffic) and
    # the rest, which the tolerance holds (`segmentation.overlap.moves`); None in older artifacts, and then left out.
    moved_explained_share: float | None = Field(default=None, ge=0, le=1)
    moved_unexplained_share: float | None = Field(default=None, ge=0, le=1)

    @model_serializer(mode="wrap")
    def _leave_out_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        return _without_none(handler(self), ("moved_explained_share", "moved_unexplained_share"))


class LineageEntry(BaseModel):
    """What a refit did to one segment id: `from` the served segments involved, `into` the new model's (a kept
    segment is both, a new one has no `from`, a retired one no `into`; a split or merge names every part)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)
    segment_id: int = Field(ge=0)
    kind: Literal["kept", "new", "retired", "split", "merged"]
    from_: list[int] = Field(alias="from")
    into: list[int]
    name: str | None = Field(default=None, max_length=200, description="the segment's name where it was served")
    absorbed: list[int] | None = Field(
        default=None,
        description="on a kept segment: the served segments it absorbed (each has a `merged` entry naming both)",
    )

    @model_serializer(mode="wrap")
    def _leave_out_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        return _without_none(handler(self), ("absorbed",))


def _without_none(data: dict[str, object], optional: tuple[str, ...]) -> dict[str, object]:
    """`data` without the optional fields that are None: an artifact that does not use them reads as before, also
    by a reader that does not know them."""
    return {key: value for key, value in data.items() if key not in optional or value is not None}
