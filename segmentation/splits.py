"""Whether a candidate's split of a served segment is real: K-Means refitted on bootstrap resamples of the parent's
leads must find the same parts again. A group that is one blob is cut differently on each resample."""

import numpy as np

from segmentation.kmeans import fit_kmeans, squared_distances
from segmentation.lineage import Lineage

__all__ = ["SPLIT_AGREEMENT", "SPLIT_LEADS", "SPLIT_RESAMPLES", "doubtful_splits", "split_agreement"]

SPLIT_AGREEMENT = 0.8
"""The least mean adjusted Rand index between a split's parts and the parts of bootstrap refits for the split to
count as real (the same bar as the K-choice's resample stability, `find_optimal_clusters`' `min_stability`)."""
SPLIT_RESAMPLES = 5
"""Bootstrap resamples a split is refitted on."""
SPLIT_LEADS = 2_000
"""At most this many of the parent's leads (evenly drawn) are resampled: enough to see two parts, and cheap."""


def split_agreement(Z: np.ndarray, parts: np.ndarray, *, random_state: int = 0) -> float:
    """Mean ARI between `parts` (labels of the rows of `Z`) and the K-Means parts, as many, of `SPLIT_RESAMPLES`
    bootstrap resamples of `Z` (each fitted with 2 starts and applied to every row).

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
    agreements = []
    for _ in range(SPLIT_RESAMPLES):
        rows = rng.choice(len(Z), len(Z), replace=True)
        centroids = fit_kmeans(Z[rows], len(present), random_state=int(rng.integers(2**31)), n_init=2).centroids
        agreements.append(adjusted_rand_score(parts, squared_distances(Z, centroids).argmin(axis=1)))
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
    """One sentence per served segment the lineage splits whose parts `split_agreement` does not find again on its
    leads: the rows of `Z` (in the candidate's space) the served model labels it and the candidate labels a part.

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
        rows = rows[:: max(1, len(rows) // SPLIT_LEADS)]
        agreement = split_agreement(Z[rows], candidate_labels[rows], random_state=random_state)
        if agreement < SPLIT_AGREEMENT:
            doubts.append(
                f"{names.get(step.segment_id, 'segment')} ({step.segment_id}) is split into "
                f"{' and '.join(map(str, step.into_ids))}, but bootstrap refits of its leads find those parts again "
                f"with agreement {agreement:.2f} only (at least {SPLIT_AGREEMENT})"
            )
    return tuple(doubts)
