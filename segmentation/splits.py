"""Whether a candidate's split of a served segment is real: K-Means refitted on bootstrap resamples of the parent's
leads must cut them the same way every time. A group that is one blob is cut differently on each resample."""

import numpy as np

from segmentation.kmeans import fit_kmeans, squared_distances
from segmentation.lineage import Lineage

__all__ = ["SPLIT_AGREEMENT", "SPLIT_LEADS", "SPLIT_RESAMPLES", "doubtful_splits", "split_agreement"]

SPLIT_AGREEMENT = 0.8
"""The least mean adjusted Rand index between the cuts of bootstrap refits of a split's parent leads for the split
to count as real (the same bar as the K-choice's resample stability, `find_optimal_clusters`' `min_stability`).
Measured on the planted changes: a group cut in two that is one blob scores 0.19-0.72, a group planted as two
halves 0.88-1.0, also with half the sample still the undivided group."""
SPLIT_RESAMPLES = 5
"""Bootstrap resamples a split is refitted on."""
SPLIT_LEADS = 2_000
"""At most this many of the parent's leads (evenly drawn) are resampled: enough to see two parts, and cheap."""


def split_agreement(Z: np.ndarray, parts: np.ndarray, *, random_state: int = 0) -> float:
    """Mean ARI between every two of the cuts that K-Means, with as many parts as `parts` has, fitted on
    `SPLIT_RESAMPLES` bootstrap resamples of the rows of `Z` (2 starts each), gives all of them.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> apart = np.vstack([rng.normal(0, 1, (200, 3)), rng.normal(6, 1, (200, 3))])
        >>> split_agreement(apart, np.repeat([0, 1], 200))
        1.0
        >>> blob = rng.normal(0, 1, (400, 3))
        >>> split_agreement(blob, (blob[:, 0] > 0).astype(int)) < 0.8
        True
    """
    from sklearn.metrics import adjusted_rand_score  # the worker's routing process never loads scikit-learn

    rng = np.random.default_rng(random_state)
    present, parts = np.unique(parts, return_inverse=True)
    if len(present) < 2 or len(Z) <= len(present):
        return 0.0
    cuts = []
    for _ in range(SPLIT_RESAMPLES):
        rows = rng.choice(len(Z), len(Z), replace=True)
        centroids = fit_kmeans(Z[rows], len(present), random_state=int(rng.integers(2**31)), n_init=2).centroids
        cuts.append(squared_distances(Z, centroids).argmin(axis=1))
    agreements = [adjusted_rand_score(a, b) for n, a in enumerate(cuts) for b in cuts[n + 1 :]]
    return round(float(np.mean(agreements)), 4)


def doubtful_splits(
    lineage: Lineage,
    served_ids: np.ndarray,
    Z: np.ndarray,
    served_labels: np.ndarray,
    candidate_labels: np.ndarray,
    *,
    names: dict[int, str],
    random_state: int = 0,
) -> tuple[str, ...]:
    """One sentence per served segment the lineage splits whose leads `split_agreement` does not find cut the same
    way on resamples: the rows of `Z` (in the candidate's space) the served model labels it and the candidate puts
    in a part (at most `SPLIT_LEADS` of them, evenly spaced).

    Examples:
        >>> from segmentation.lineage import LineageStep
        >>> rng = np.random.default_rng(1)
        >>> Z = rng.normal(0, 1, (600, 2))
        >>> split = LineageStep(0, "split", (0,), (1, 2))
        >>> lineage = Lineage((1, 2), (False, False), (split, LineageStep(1, "split", (0,), (1, 2))), 2)
        >>> doubtful_splits(lineage, np.array([0]), Z, np.zeros(600, int), (Z[:, 0] > 0).astype(int),
        ...                 names={0: "Tire Kickers"})[0][:60]
        'Tire Kickers (0) is split into 1 and 2, but bootstrap refits'
    """
    ids = np.array(lineage.ids)
    doubts = []
    for step in lineage.steps:
        if step.kind != "split" or step.from_ids != (step.segment_id,):
            continue
        parent = int(np.flatnonzero(served_ids == step.segment_id)[0])
        rows = np.flatnonzero((served_labels == parent) & np.isin(ids[candidate_labels], step.into_ids))
        rows = rows[np.linspace(0, len(rows) - 1, min(len(rows), SPLIT_LEADS)).astype(int)] if len(rows) else rows
        agreement = split_agreement(Z[rows], candidate_labels[rows], random_state=random_state)
        if agreement < SPLIT_AGREEMENT:
            doubts.append(
                f"{names.get(step.segment_id, 'segment')} ({step.segment_id}) is split into "
                f"{' and '.join(map(str, step.into_ids))}, but bootstrap refits of its leads cut them the same way "
                f"with agreement {agreement:.2f} only (at least {SPLIT_AGREEMENT})"
            )
    return tuple(doubts)
