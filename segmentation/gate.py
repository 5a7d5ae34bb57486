"""The quality gate of a refit: a candidate model and the served one scored on the same held-out leads, in the
same space, and the candidate promoted only if it is not worse beyond tolerances."""

from dataclasses import asdict, dataclass

import numpy as np

from segmentation.kmeans import fit_kmeans, squared_distances
from segmentation.overlap import Moves
from segmentation.silhouette import SilhouetteScorer

__all__ = ["GateScores", "GateVerdict", "Tolerances", "judge", "score_partition"]

# Silhouette is exact on at most this many held-out leads (n² memory and time).
SILHOUETTE_SAMPLE = 2_000


@dataclass(frozen=True)
class GateScores:
    """One model's partition of the held-out leads: mean squared distance to its segment's centre (inertia per
    lead), sampled silhouette, the smallest segment's share, and stability (mean ARI between the partition and
    K-Means fits on two 80 % resamples)."""

    inertia_per_lead: float
    silhouette: float
    min_share: float
    stability: float

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in asdict(self).items()}


@dataclass(frozen=True)
class Tolerances:
    """How much worse than the served model a candidate may be and still be promoted."""

    inertia: float = 0.05  # relative increase of inertia per lead
    silhouette: float = 0.05  # absolute drop
    stability: float = 0.10  # absolute drop
    min_share: float = 0.01  # smallest segment's share, floor
    min_stability: float = 0.5  # the candidate's own stability, floor: below it resamples do not find its segments
    moved_share: float = 0.30  # share of held-out leads moved in a way the lineage does not explain, ceiling


@dataclass(frozen=True)
class GateVerdict:
    """The decision and why; `moved_share` is every held-out lead whose segment id changes, split into the moves the
    lineage explains and the rest (`segmentation.overlap.moves`), which alone the tolerance holds."""

    promote: bool
    reasons: tuple[str, ...]
    candidate: GateScores
    served: GateScores
    moved_share: float
    moved_explained_share: float = 0.0
    moved_unexplained_share: float = 0.0


def score_partition(Z: np.ndarray, labels: np.ndarray, *, random_state: int = 0) -> GateScores:
    """Score the partition `labels` of the rows of `Z` (the leads in a space both models share).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> Z = np.vstack([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2))])
        >>> scores = score_partition(Z, np.repeat([0, 1], 50))
        >>> round(scores.silhouette, 2), scores.min_share, scores.stability
        (0.98, 0.5, 1.0)
    """
    from sklearn.metrics import adjusted_rand_score  # the worker's routing process never loads scikit-learn

    rng = np.random.default_rng(random_state)
    present, labels = np.unique(labels, return_inverse=True)
    k, m = len(present), len(Z)
    centres = np.array([Z[labels == i].mean(axis=0) for i in range(k)])
    inertia = float(squared_distances(Z, centres)[np.arange(m), labels].mean())
    sample = rng.choice(m, min(m, SILHOUETTE_SAMPLE), replace=False)
    silhouette = SilhouetteScorer(Z[sample]).score(labels[sample]) if len(np.unique(labels[sample])) > 1 else 0.0
    agreements = []
    for _ in range(2):
        rows = rng.choice(m, int(0.8 * m), replace=False)
        refit = fit_kmeans(Z[rows], k, random_state=int(rng.integers(2**31)), n_init=2).centroids
        agreements.append(adjusted_rand_score(labels, squared_distances(Z, refit).argmin(axis=1)))
    return GateScores(inertia, silhouette, float(np.bincount(labels).min() / m), float(np.mean(agreements)))


def judge(
    candidate: GateScores,
    served: GateScores,
    moved: float | Moves,
    tolerances: Tolerances,
    *,
    doubtful_splits: tuple[str, ...] = (),
) -> GateVerdict:
    """Promote unless the candidate is worse than the served model beyond `tolerances`, moves more leads than
    `tolerances.moved_share` in ways its lineage does not explain (a plain share counts as all unexplained), or
    splits a served segment in halves that resamples do not reproduce (`doubtful_splits`, one sentence each);
    the reasons say where.

    Examples:
        >>> served = GateScores(1.0, 0.5, 0.1, 0.9)
        >>> judge(GateScores(0.98, 0.52, 0.1, 0.9), served, 0.05, Tolerances()).promote
        True
        >>> judge(GateScores(1.3, 0.2, 0.001, 0.5), served, 0.8, Tolerances()).reasons[0]
        'inertia per lead 1.3 is 30% above the served 1 (at most 5%)'
        >>> verdict = judge(GateScores(0.9, 0.55, 0.1, 0.9), served, Moves(0.4, 0.35, 0.05), Tolerances())
        >>> verdict.promote, verdict.moved_share, verdict.moved_unexplained_share
        (True, 0.4, 0.05)
    """
    if not isinstance(moved, Moves):
        moved = Moves(moved, 0.0, moved)
    t, reasons = tolerances, []
    if candidate.inertia_per_lead > served.inertia_per_lead * (1 + t.inertia):
        rise = candidate.inertia_per_lead / served.inertia_per_lead - 1
        reasons.append(
            f"inertia per lead {candidate.inertia_per_lead:.3g} is {rise:.0%} above the served "
            f"{served.inertia_per_lead:.3g} (at most {t.inertia:.0%})"
        )
    if candidate.silhouette < served.silhouette - t.silhouette:
        reasons.append(
            f"silhouette {candidate.silhouette:.3f} is below the served {served.silhouette:.3f} "
            f"by more than {t.silhouette}"
        )
    if candidate.stability < served.stability - t.stability:
        reasons.append(
            f"stability {candidate.stability:.3f} is below the served {served.stability:.3f} by more than {t.stability}"
        )
    if candidate.stability < t.min_stability:
        reasons.append(
            f"its segments are not reproducible on resamples: stability {candidate.stability:.3f} "
            f"(at least {t.min_stability})"
        )
    if candidate.min_share < t.min_share:
        reasons.append(f"its smallest segment holds {candidate.min_share:.1%} of leads (at least {t.min_share:.0%})")
    if moved.unexplained > t.moved_share:
        reasons.append(
            f"it would move {moved.unexplained:.0%} of leads to another segment that its lineage does not explain "
            f"(at most {t.moved_share:.0%}; {moved.explained:.0%} more move as their segment was retired, split, "
            "merged or new)"
        )
    reasons += doubtful_splits
    return GateVerdict(not reasons, tuple(reasons), candidate, served, moved.total, moved.explained, moved.unexplained)
