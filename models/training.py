"""Fitting a model artifact from leads: the first fit, and a refit that carries a served model's
segment ids, names' strategies and baseline over to the new centroids."""

from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from segmentation.features import FEATURES, HEAVY_TAILED
from segmentation.identity import fingerprint, match_to_previous
from segmentation.naming import name_segments
from segmentation.profiling import profile_segments
from segmentation.segmenter import LeadSegmenter

__all__ = ["build_snapshot", "fit_model", "refit_model"]


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


def refit_model(X: np.ndarray, served: ModelSnapshot, *, version: int, random_state: int = 0) -> ModelSnapshot:
    """Refit `served` on new leads with the same K, log features and PCA variance. Each new segment
    takes the id of a served segment (one to one, the nearest centroids paired), and a segment named
    like a served one keeps that one's strategy."""
    config = StrategyConfig(strategies={s.name: s.strategy for s in served.segments}, baseline=served.baseline)
    model, fitted = fit_model(
        X,
        config=config,
        k=len(served.segments),
        log_features=served.log_features,
        pca=float(sum(served.pca.explained_variance_ratio)) if served.pca else None,
        version=version,
        random_state=random_state,
    )
    served_means = np.array([[s.profile[f].mean for f in FEATURES] for s in served.segments])
    matched = match_to_previous(model.feature_centroids_, model.scale(served_means))
    ids = [served.segments[j].id for j in matched]  # same K: every new segment is paired
    segments = [segment.model_copy(update={"id": i}) for segment, i in zip(fitted.segments, ids, strict=True)]
    return fitted.model_copy(update={"segments": segments})
