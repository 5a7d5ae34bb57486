"""Batch pipeline shared by `fit`, `report` and `demo`: fit, name, price, compare, summarize."""

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from models.snapshot import ModelSnapshot
from models.strategies import ASSUMED_BASIS
from segmentation.density import DensityComparison, HierarchicalComparison, compare_dbscan, compare_hierarchical
from segmentation.exceptions import InvalidParameterError
from segmentation.impact import Impact
from segmentation.kmeans import fit_kmeans
from segmentation.outcome_stats import MIN_MATURED
from segmentation.profiling import SegmentProfile, profile_segments
from segmentation.projection import Projection, fit_projection
from segmentation.segmenter import LeadSegmenter

__all__ = [
    "IMPACT_BASIS",
    "MIN_LEADS_PER_SEGMENT",
    "Analysis",
    "PcaReduction",
    "analyze",
    "measure_pca_speedup",
    "summary",
]

# Said wherever a revenue or a lift is shown: it is a projection from assumptions, not a measurement.
IMPACT_BASIS = ASSUMED_BASIS
# Below this many leads a segment on average, K and the expected lift rest on too little: the lift is `too_few`.
MIN_LEADS_PER_SEGMENT = MIN_MATURED


@dataclass(frozen=True)
class Analysis:
    """What a model makes of a set of leads: labels, profiles, a 2-D view, comparisons, impact. A comparison
    the leads are too few (or too alike) for is None, and `notes` says why it was skipped."""

    labels: np.ndarray
    profiles: tuple[SegmentProfile, ...]
    plane: np.ndarray
    plane_projection: Projection
    dbscan: DensityComparison | None
    hierarchical: HierarchicalComparison | None
    impact: Impact
    notes: tuple[str, ...] = ()
    basis: str = IMPACT_BASIS  # what the revenue figures rest on: assumed or calibrated strategies
    too_few: bool = False  # fewer than MIN_LEADS_PER_SEGMENT leads a segment: no lift is headlined


@dataclass(frozen=True)
class PcaReduction:
    """Clustering on PCA-reduced features: components kept, variance retained, measured speed-up."""

    components: int
    variance_retained: float
    full_fit_seconds: float
    reduced_fit_seconds: float

    @property
    def speedup(self) -> float:
        return self.full_fit_seconds / self.reduced_fit_seconds if self.reduced_fit_seconds else float("inf")


def analyze(
    model: LeadSegmenter,
    snapshot: ModelSnapshot,
    X: np.ndarray,
    *,
    dbscan_eps: float | None = None,
    random_state: int = 0,
) -> Analysis:
    """Assign `X`, profile the segments, project to 2-D, compare with DBSCAN and Ward, price it."""
    scaled = model.scale(X)
    Z = model.transform(X)
    labels = model.predict(X)
    k = len(snapshot.segments)
    profiles = profile_segments(X, scaled, labels, k)
    plane_projection = fit_projection(scaled, 2)
    notes: list[str] = []
    too_few = len(X) < MIN_LEADS_PER_SEGMENT * k
    if too_few:
        notes.append(
            f"only {len(X):,} leads for {k} segments (fewer than {MIN_LEADS_PER_SEGMENT} a segment): the choice of "
            "K and the lift are not reliable, so no lift is given (too_few)"
        )
    dbscan: DensityComparison | None = None
    hierarchical: HierarchicalComparison | None = None
    try:
        dbscan = compare_dbscan(Z, labels, eps=dbscan_eps, random_state=random_state)
    except InvalidParameterError as error:
        notes.append(f"DBSCAN comparison skipped: {error}")
    try:
        hierarchical = compare_hierarchical(Z, labels, k, random_state=random_state)
    except InvalidParameterError as error:
        notes.append(f"Hierarchical comparison skipped: {error}")
    return Analysis(
        labels=labels,
        profiles=profiles,
        plane=plane_projection.transform(scaled),
        plane_projection=plane_projection,
        dbscan=dbscan,
        hierarchical=hierarchical,
        impact=snapshot.impact([p.size for p in profiles]),
        notes=tuple(notes),
        basis=snapshot.basis,
        too_few=too_few,
    )


def measure_pca_speedup(model: LeadSegmenter, X: np.ndarray) -> PcaReduction:
    """Time the same K-Means fit on all scaled features and on the PCA-reduced ones."""
    if model.projection_ is None:
        raise ValueError("the model was fitted without PCA")
    scaled = model.scale(X)
    reduced = model.transform(X)
    seconds = []
    for data in (scaled, reduced):
        start = time.perf_counter()
        fit_kmeans(data, model.n_clusters_, random_state=model.random_state, algorithm=model.algorithm_)
        seconds.append(time.perf_counter() - start)
    return PcaReduction(len(model.projection_.components), model.projection_.variance_retained, *seconds)


def summary(snapshot: ModelSnapshot, analysis: Analysis, reduction: PcaReduction | None = None) -> dict[str, Any]:
    """The `fit --json` object (see README, "fit --json")."""
    selection = snapshot.metrics.selection
    dbscan = analysis.dbscan
    pca: dict[str, Any] = {
        "variance_explained": analysis.plane_projection.explained_variance_ratio.tolist(),
        "reduction": None,
    }
    if reduction is not None:
        pca["reduction"] = asdict(reduction) | {"speedup": reduction.speedup}
    return {
        "recommended_k": selection.recommended_k if selection else None,
        "reason": selection.reason if selection else "K given by --k",
        "scores": [asdict(s) for s in selection.scores] if selection else [],
        "k": len(snapshot.segments),
        "model_version": snapshot.version,
        "segments": [
            {
                "id": segment.id,
                "name": segment.name,
                "size": profile.size,
                "share": profile.share,
                "profile": {
                    feature: {"mean": profile.mean[j], "median": profile.median[j], "z": profile.z[j]}
                    for j, feature in enumerate(snapshot.features)
                },
                "strategy": segment.strategy.model_dump(),
                "expected_revenue": revenue,
            }
            for segment, profile, revenue in zip(
                snapshot.segments, analysis.profiles, analysis.impact.per_segment, strict=True
            )
        ],
        "dbscan": None
        if dbscan is None
        else {
            "eps": dbscan.eps,
            "min_samples": dbscan.min_samples,
            "n_clusters": dbscan.n_clusters,
            "noise": dbscan.noise,
            "noise_share": dbscan.noise_share,
            "ari_vs_kmeans": dbscan.ari_vs_kmeans,
            "sample_size": dbscan.sample_size,
        },
        "hierarchical": None if analysis.hierarchical is None else asdict(analysis.hierarchical),
        "pca": pca,
        "impact": {
            "baseline_revenue": analysis.impact.baseline_revenue,
            "segmented_revenue": analysis.impact.segmented_revenue,
            "lift_pct": None if analysis.too_few else analysis.impact.lift_pct,
            "too_few": analysis.too_few,
            "basis": analysis.basis,
        },
        "notes": list(analysis.notes),
    }
