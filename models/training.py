"""Fitting a model artifact from leads: the first fit, and a refit that carries a served model's
segment ids, names' strategies and baseline over to the new centroids."""

from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from models.snapshot import GateReport, ModelSnapshot
from models.strategies import StrategyConfig
from segmentation.features import FEATURES, HEAVY_TAILED
from segmentation.gate import GateVerdict, Tolerances, judge, score_partition
from segmentation.identity import fingerprint, match_to_previous
from segmentation.naming import name_segments
from segmentation.profiling import profile_segments
from segmentation.segmenter import LeadSegmenter

__all__ = ["HELD_OUT_MAX", "HELD_OUT_SHARE", "build_snapshot", "fit_model", "refit_model"]

# The share of a refit's leads held out of the fit to score it on, and its most.
HELD_OUT_SHARE = 0.2
HELD_OUT_MAX = 20_000
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
    and baseline of `config`, and fingerprint the training leads."""
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
) -> tuple[ModelSnapshot, GateVerdict]:
    """Refit `served` on new leads (K chosen again when `k` is None) and judge the candidate against it.

    A slice of the leads (`HELD_OUT_SHARE`, at most `HELD_OUT_MAX`) is held out of the fit; both models are
    scored on it in the served model's scaled feature space (`segmentation.gate`). Each new segment takes the
    id of the served segment it pairs with (nearest centroids, one to one), a new one a fresh id, and a
    segment named like a served one keeps that one's strategy. The verdict is also stored in the candidate."""
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
    served_means = np.array([[s.profile[f].mean for f in FEATURES] for s in served.segments])
    matched = match_to_previous(model.feature_centroids_, model.scale(served_means))
    fresh = max(served.segment_ids) + 1 - len(served.segments)  # unmatched segments: ids after the served ones
    ids = np.array([served.segments[j].id if j < len(served.segments) else j + fresh for j in matched])
    segments = [segment.model_copy(update={"id": int(i)}) for segment, i in zip(fitted.segments, ids, strict=True)]

    old = served.to_segmenter()
    Z = old.scale(holdout)
    served_ids = np.array(served.segment_ids)[old.predict(holdout)]
    candidate_ids = ids[model.predict(holdout)]
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
    return fitted.model_copy(update={"segments": segments, "gate": gate}), verdict
