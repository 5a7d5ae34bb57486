"""Fitting a model artifact from leads: the first fit, and a refit that carries a served model's segment ids,
names, strategies and baseline over to the segments that keep their identity, and records the lineage."""

from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from models.snapshot import ModelSnapshot
from models.snapshot_parts import GateReport, LineageEntry, SegmentInfo, Selection
from models.strategies import StrategyConfig
from segmentation.drift import drift_figures, place
from segmentation.features import HEAVY_TAILED
from segmentation.gate import GateVerdict, Tolerances
from segmentation.identity import fingerprint
from segmentation.lineage import Lineage
from segmentation.naming import describe, name_segments
from segmentation.overlap import MATCH_RADIUS
from segmentation.profiling import profile_segments
from segmentation.segmenter import LeadSegmenter
from segmentation.succession import Served, Succession, alternatives, prefer_identity, settled, succeed

__all__ = ["HELD_OUT_MAX", "HELD_OUT_SHARE", "MATCH_RADIUS", "build_snapshot", "fit_model", "refit_model"]

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
    and baseline of `config`, fingerprint the training leads and keep their drift figures."""
    profiles = profile_segments(X, model.scale(X), model.labels_, model.n_clusters_)
    names = [config.name_for(i, derived) for i, derived in enumerate(name_segments(profiles))]
    return ModelSnapshot.from_segmenter(
        model,
        names=names,
        strategies=[config.strategy_for(name) for name in names],
        profiles=profiles,
        baseline=config.baseline,
        calibration=config.calibration,
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
    `segmentation.lineage.trace_lineage` on how the held-out leads are shared out (`segmentation.overlap`): a
    candidate segment that continues a served one keeps its id, name and strategy (and names the served segments it
    absorbed); any other gets a fresh id (never one used before), a name no served segment holds, and the baseline
    strategy. When K is chosen, every K that passes the K-choice guards, and the served K and its neighbours, are
    traced and the one that keeps the served segments best is taken (`segmentation.succession.prefer_identity`).
    The lineage and the verdict are stored in the candidate. The leads are put in one canonical order first, so
    that a refit depends on which leads the sample holds, not on the order it was read in (the shared sample comes
    back in the order of its random keys)."""
    X = X[np.lexsort(X.T[::-1])]
    order = np.random.default_rng(random_state).permutation(len(X))
    held = min(HELD_OUT_MAX, int(len(X) * HELD_OUT_SHARE))
    holdout, train = X[order[:held]], X[order[held:]]
    first = LeadSegmenter(
        n_clusters=k,
        max_k=max_k,
        log_features=served.log_features,
        pca=float(sum(served.pca.explained_variance_ratio)) if served.pca else None,
        random_state=random_state,
    ).fit(train)
    before = _served(served).scored(holdout, random_state=random_state)

    def traced(option: LeadSegmenter) -> Succession:
        return succeed(
            before, option, train, holdout, tolerances=tolerances, match_radius=match_radius, random_state=random_state
        )

    options = [traced(first)]
    if not settled(options[0]):  # only then can another K be preferred: fit them
        options += [traced(option) for option in alternatives(first, train, around=len(served.segments))[1:]]
    chosen, why = prefer_identity(options, tolerances.moved_share)
    config = StrategyConfig(
        strategies={s.name: s.strategy for s in served.segments},
        baseline=served.baseline,
        calibration=served.calibration,
    )
    created_at = datetime.now().astimezone()
    fitted = build_snapshot(chosen.model, train, config=config, version=version, created_at=created_at)
    if why is not None and first.selection_ is not None:
        selection = Selection(recommended_k=chosen.model.n_clusters_, reason=why, scores=list(first.selection_.scores))
        fitted = fitted.model_copy(update={"metrics": fitted.metrics.model_copy(update={"selection": selection})})
    segments = _carry_identity(served, fitted, chosen.lineage)
    update = {
        "segments": segments,
        "gate": _report(chosen.verdict, served, k=len(segments), held=held),
        "lineage": _entries(chosen.lineage, before.names | {s.id: s.name for s in segments}),
        "segment_id_high_water": chosen.lineage.high_water,
    }
    return fitted.model_copy(update=update), chosen.verdict


def _served(served: ModelSnapshot) -> Served:
    return Served(
        served.to_segmenter(),
        np.array(served.segment_ids),
        {s.id: s.name for s in served.segments},
        np.array([s.share for s in served.segments]),
        served.high_water,
    )


def _report(verdict: GateVerdict, served: ModelSnapshot, *, k: int, held: int) -> GateReport:
    return GateReport(
        decision="promoted" if verdict.promote else "rejected",
        reasons=list(verdict.reasons),
        served_version=served.version,
        k=k,
        served_k=len(served.segments),
        held_out=held,
        moved_share=round(verdict.moved_share, 4),
        moved_explained_share=round(verdict.moved_explained_share, 4),
        moved_unexplained_share=round(verdict.moved_unexplained_share, 4),
        candidate=verdict.candidate.as_dict(),
        served=verdict.served.as_dict(),
    )


def _entries(lineage: Lineage, names: dict[int, str]) -> list[LineageEntry]:
    return [
        LineageEntry.model_validate(
            {
                "segment_id": e.segment_id,
                "kind": e.kind,
                "from": e.from_ids,
                "into": e.into_ids,
                "name": names[e.segment_id],
            }
            | ({"absorbed": list(e.absorbed)} if e.absorbed else {})
        )
        for e in lineage.steps
    ]


def _carry_identity(served: ModelSnapshot, fitted: ModelSnapshot, lineage: Lineage) -> list[SegmentInfo]:
    """The candidate's segments with their lineage ids: a kept one with its served name and strategy, any other
    with its derived name (or, if a served segment holds that name, its description) and the baseline strategy."""
    held = {s.id: s for s in served.segments}
    taken = {s.name for s in served.segments}
    baseline = served.baseline.strategy
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
