"""Fitting a model artifact from leads: the first fit, and a refit that carries a served model's segment ids,
names, strategies and baseline over to the segments that keep their identity, and records the lineage."""

from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from models.snapshot import ModelSnapshot
from models.snapshot_parts import GateReport, LineageEntry, SegmentInfo
from models.strategies import FALLBACK_STRATEGY, StrategyConfig
from segmentation.drift import drift_figures, place
from segmentation.features import HEAVY_TAILED
from segmentation.gate import GateVerdict, Tolerances, judge, score_partition
from segmentation.identity import fingerprint
from segmentation.lineage import Lineage, crosstab, trace_lineage
from segmentation.naming import describe, name_segments
from segmentation.profiling import profile_segments
from segmentation.segmenter import LeadSegmenter

__all__ = ["HELD_OUT_MAX", "HELD_OUT_SHARE", "MATCH_RADIUS", "build_snapshot", "fit_model", "refit_model"]

# The share of a refit's leads held out of the fit to score it on, and its most.
HELD_OUT_SHARE = 0.2
HELD_OUT_MAX = 20_000
# A candidate segment keeps a served one's identity within this many times the served segment's median lead
# distance of its centroid (in the served model's space).
MATCH_RADIUS = 0.5
_DEFAULT_TOLERANCES = Tolerances()


def fit_model(
    X: np.ndarray,
    *,
    config: StrategyConfig,
    k: int | None = None,
    max_k: int = 10,
    pca: float | None = None,
    log_features: Sequence[str] = HEAVY_TAILED,
    algorithm: str = "auto",
    random_state: int = 0,
    version: int | None = None,
    on_k: Callable[[int], None] | None = None,
) -> tuple[LeadSegmenter, ModelSnapshot]:
    """Fit a `LeadSegmenter` on `X` and build its artifact (`build_snapshot`); the version defaults to
    the creation time in milliseconds."""
    model = LeadSegmenter(
        n_clusters=k, max_k=max_k, pca=pca, log_features=log_features, algorithm=algorithm, random_state=random_state
    )
    model.fit(X, on_k=on_k)
    created_at = datetime.now().astimezone()
    snapshot = build_snapshot(
        model, X, config=config, version=version or int(created_at.timestamp() * 1000), created_at=created_at
    )
    return model, snapshot


def build_snapshot(
    model: LeadSegmenter, X: np.ndarray, *, config: StrategyConfig, version: int, created_at: datetime
) -> ModelSnapshot:
    """The artifact of `model` fitted on `X`: profile and name its segments, attach the strategies
    and baseline of `config`, fingerprint the training leads and keep their drift figures."""
    profiles = profile_segments(X, model.scale(X), model.labels_, model.n_clusters_)
    names = [config.name_for(i, derived) for i, derived in enumerate(name_segments(profiles))]
    return ModelSnapshot.from_segmenter(
        model,
        names=names,
        strategies=[config.strategy_for(name) for name in names],
        profiles=profiles,
        baseline=config.baseline,
        version=version,
        created_at=created_at,
        fingerprint=fingerprint(X),
        fit=drift_figures(place(model, X), model.n_clusters_),
    )


def refit_model(
    X: np.ndarray,
    served: ModelSnapshot,
    *,
    version: int,
    k: int | None,
    max_k: int = 10,
    tolerances: Tolerances = _DEFAULT_TOLERANCES,
    random_state: int = 0,
    match_radius: float = MATCH_RADIUS,
) -> tuple[ModelSnapshot, GateVerdict]:
    """Refit `served` on new leads (K chosen again when `k` is None) and judge the candidate against it.

    A slice of the leads (`HELD_OUT_SHARE`, at most `HELD_OUT_MAX`) is held out of the fit; both models are
    scored on it in the served model's scaled feature space (`segmentation.gate`). Identity follows
    `segmentation.lineage.trace_lineage`, in the served model's space: a candidate segment within `match_radius`
    times a served segment's median lead distance of it (and not part of a split or merge, which the held-out
    leads under both models decide) keeps that segment's id, name and strategy; any other gets a fresh id (never
    one used before), a name no served segment holds, and the baseline strategy. The lineage and the verdict are
    stored in the candidate. The leads are put in one canonical order first, so that a refit depends on which leads
    the sample holds, not on the order it was read in (the shared sample comes back in the order of its random
    keys)."""
    X = X[np.lexsort(X.T[::-1])]
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(X))
    held = min(HELD_OUT_MAX, int(len(X) * HELD_OUT_SHARE))
    holdout, train = X[order[:held]], X[order[held:]]
    config = StrategyConfig(strategies={s.name: s.strategy for s in served.segments}, baseline=served.baseline)
    model, fitted = fit_model(
        train,
        config=config,
        k=k,
        max_k=max_k,
        log_features=served.log_features,
        pca=float(sum(served.pca.explained_variance_ratio)) if served.pca else None,
        version=version,
        random_state=random_state,
    )
    old = served.to_segmenter()
    m, n = len(served.segments), len(fitted.segments)
    seen = old.transform(train)
    centroids = np.array(
        [seen[model.labels_ == j].mean(axis=0) if (model.labels_ == j).any() else np.inf + seen[0] for j in range(n)]
    )
    distances = np.sqrt(((old.centroids_[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2))
    radii = match_radius * np.array([s.distance_quantiles["p50"] for s in served.segments])
    served_index, candidate_index = old.predict(holdout), model.predict(holdout)
    lineage = trace_lineage(
        distances,
        radii,
        crosstab(served_index, candidate_index, m, n),
        np.array(served.segment_ids),
        served.high_water,
        expected=np.array([s.share for s in served.segments]) * held,
    )
    segments = _carry_identity(served, fitted, lineage)
    ids = np.array(lineage.ids)

    Z = old.scale(holdout)
    served_ids = np.array(served.segment_ids)[served_index]
    candidate_ids = ids[candidate_index]
    verdict = judge(
        score_partition(Z, candidate_ids, random_state=random_state),
        score_partition(Z, served_ids, random_state=random_state),
        float(np.mean(served_ids != candidate_ids)),
        tolerances,
    )
    gate = GateReport(
        decision="promoted" if verdict.promote else "rejected",
        reasons=list(verdict.reasons),
        served_version=served.version,
        k=len(segments),
        served_k=len(served.segments),
        held_out=held,
        moved_share=round(verdict.moved_share, 4),
        candidate=verdict.candidate.as_dict(),
        served=verdict.served.as_dict(),
    )
    names = {s.id: s.name for s in served.segments} | {s.id: s.name for s in segments}
    entries = [
        LineageEntry.model_validate(
            {
                "segment_id": e.segment_id,
                "kind": e.kind,
                "from": e.from_ids,
                "into": e.into_ids,
                "name": names[e.segment_id],
            }
        )
        for e in lineage.steps
    ]
    update = {"segments": segments, "gate": gate, "lineage": entries, "segment_id_high_water": lineage.high_water}
    return fitted.model_copy(update=update), verdict


def _carry_identity(served: ModelSnapshot, fitted: ModelSnapshot, lineage: Lineage) -> list[SegmentInfo]:
    """The candidate's segments with their lineage ids: a kept one with its served name and strategy, any other
    with its derived name (or, if a served segment holds that name, its description) and the baseline strategy."""
    held = {s.id: s for s in served.segments}
    taken = {s.name for s in served.segments}
    baseline = FALLBACK_STRATEGY.model_copy(
        update={
            "expected_close_rate": served.baseline.conversion_rate,
            "avg_deal_size": served.baseline.avg_deal_size,
        }
    )
    segments = []
    for segment, segment_id, kept in zip(fitted.segments, lineage.ids, lineage.kept, strict=True):
        if kept:
            origin = held[segment_id]
            segments.append(
                segment.model_copy(update={"id": segment_id, "name": origin.name, "strategy": origin.strategy})
            )
            continue
        name = segment.name
        if name in taken:
            z = {f: np.nan if v.z is None else v.z for f, v in segment.profile.items()}
            name = describe(z)
        base, n = name, 1
        while name in taken:
            n += 1
            name = f"{base} ({n})"
        taken.add(name)
        segments.append(segment.model_copy(update={"id": segment_id, "name": name, "strategy": baseline}))
    return segments
