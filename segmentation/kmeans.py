"""K-Means for small data; for large data, mini-batch candidates on a subsample refined on every row."""

from dataclasses import dataclass

import numpy as np

from segmentation.exceptions import InvalidParameterError
from segmentation.identity import canonical_order

__all__ = [
    "MINIBATCH_ABOVE",
    "MINIBATCH_HOLDOUT",
    "MINIBATCH_INITS",
    "MINIBATCH_SAMPLE",
    "REFINE_PASSES",
    "KMeansFit",
    "fit_kmeans",
    "squared_distances",
]

# Above this many rows the exact Lloyd iterations of every restart get slow on two cores.
MINIBATCH_ABOVE = 50_000
# Above it, each of MINIBATCH_INITS mini-batch runs (own k-means++ start) sees at most MINIBATCH_SAMPLE
# rows; the one with the lowest inertia on a held-out slice (a tenth of the rows, at most MINIBATCH_HOLDOUT)
# is refined by up to REFINE_PASSES full-batch Lloyd passes over every row. One MiniBatchKMeans run on all
# rows, as before, settled in a local optimum for some seeds (two segments merged, one split): see the
# fits on five seeds in docs/performance.md.
MINIBATCH_SAMPLE = 100_000
MINIBATCH_HOLDOUT = 50_000
MINIBATCH_INITS = 5
REFINE_PASSES = 20
_CHUNK = 65_536  # rows per block of a Lloyd pass: bounds its memory


@dataclass(frozen=True)
class KMeansFit:
    """Centroids in canonical order, each row's label, the inertia and the algorithm used."""

    centroids: np.ndarray
    labels: np.ndarray
    inertia: float
    algorithm: str


def fit_kmeans(
    Z: np.ndarray, k: int, *, random_state: int = 0, algorithm: str = "auto", n_init: int | None = None
) -> KMeansFit:
    """Cluster the scaled matrix `Z` into `k` segments; the same seed gives the same result.

    `algorithm` is "kmeans", "minibatch" or "auto" (mini-batches above `MINIBATCH_ABOVE` rows).
    `n_init` is the number of starts: K-Means restarts (default 3), or mini-batch candidates
    (default `MINIBATCH_INITS`), the best of which is refined on every row.

    Examples:
        >>> import numpy as np
        >>> Z = np.array([[0.0], [0.1], [5.0], [5.1], [5.2]])
        >>> fit = fit_kmeans(Z, 2)
        >>> fit.labels.tolist(), fit.algorithm
        ([1, 1, 0, 0, 0], 'kmeans')
        >>> fit_kmeans(Z, 2, algorithm="minibatch").centroids.ravel().round(2).tolist()
        [5.1, 0.05]
    """
    if not 1 <= k <= len(Z):
        raise InvalidParameterError(f"k must be between 1 and the number of leads ({len(Z)}), got {k}")
    if algorithm not in ("auto", "kmeans", "minibatch"):
        raise InvalidParameterError(f"algorithm must be auto, kmeans or minibatch, got {algorithm!r}")
    if n_init is not None and n_init < 1:
        raise InvalidParameterError(f"n_init must be at least 1, got {n_init}")
    if algorithm == "auto":
        algorithm = "minibatch" if len(Z) > MINIBATCH_ABOVE else "kmeans"
    if algorithm == "kmeans":
        # Imported here, not at the top: a worker that only assigns never loads scikit-learn.
        from sklearn.cluster import KMeans

        centroids = KMeans(n_clusters=k, n_init=n_init or 3, random_state=random_state).fit(Z).cluster_centers_
    else:
        centroids = _refined_minibatch(Z, k, random_state, n_init or MINIBATCH_INITS)
    order = canonical_order(centroids, squared_distances(Z, centroids).argmin(axis=1))
    centroids = centroids[order]
    # Labels are the nearest stored centroid, so predicting with the model reproduces them exactly.
    labels = squared_distances(Z, centroids).argmin(axis=1)
    inertia = float(((Z - centroids[labels]) ** 2).sum())
    return KMeansFit(centroids, labels, inertia, algorithm)


def squared_distances(Z: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of every row to every centroid, as one matrix product."""
    d2 = (Z**2).sum(axis=1)[:, None] - 2 * Z @ centroids.T + (centroids**2).sum(axis=1)[None, :]
    result: np.ndarray = np.maximum(d2, 0.0)
    return result


def _refined_minibatch(Z: np.ndarray, k: int, random_state: int, n_init: int) -> np.ndarray:
    """Centroids of the mini-batch candidate with the lowest held-out inertia, after Lloyd passes on all rows."""
    from sklearn.cluster import MiniBatchKMeans  # see fit_kmeans

    rng = np.random.default_rng(random_state)
    rows = rng.permutation(len(Z))
    held = min(len(Z) // 10, MINIBATCH_HOLDOUT)
    if len(Z) - held < k:
        held = 0  # too few leads to spare any: score candidates on the rows they were fitted on
    sample = Z[rows[held : held + MINIBATCH_SAMPLE]]
    holdout = Z[rows[:held]] if held else sample
    best, best_inertia = sample[:k], np.inf
    for seed in rng.integers(2**31, size=n_init):
        candidate = MiniBatchKMeans(n_clusters=k, n_init=1, batch_size=4096, random_state=int(seed)).fit(sample)
        inertia = float(squared_distances(holdout, candidate.cluster_centers_).min(axis=1).sum())
        if inertia < best_inertia:
            best, best_inertia = candidate.cluster_centers_, inertia
    # scikit-learn's tolerance: 1e-4 of the mean feature variance (here the subsample's).
    return _lloyd(Z, best, REFINE_PASSES, 1e-4 * float(sample.var(axis=0).mean()))


def _lloyd(Z: np.ndarray, centroids: np.ndarray, passes: int, tolerance: float) -> np.ndarray:
    """Full-batch Lloyd passes from `centroids`, block by block, until no centroid moves more than
    `tolerance` (summed squared shift) or `passes` are done; an empty segment keeps its centroid."""
    k, p = centroids.shape
    for _ in range(passes):
        # The nearest centroid minimises |c|^2 - 2 z.c (|z|^2 is the same for every centroid). einsum, not
        # `@`: on a product this narrow, BLAS's threads cost more than they save on a busy machine.
        offsets, doubled = (centroids**2).sum(axis=1), 2 * centroids.T
        sums, counts = np.zeros((k, p)), np.zeros(k)
        for start in range(0, len(Z), _CHUNK):
            block = Z[start : start + _CHUNK]
            nearest = (offsets - np.einsum("ij,jk->ik", block, doubled)).argmin(axis=1)
            counts += np.bincount(nearest, minlength=k)
            sums += np.stack([np.bincount(nearest, weights=block[:, j], minlength=k) for j in range(p)], axis=1)
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centroids)
        shift = float(((moved - centroids) ** 2).sum())
        centroids = moved
        if shift <= tolerance:
            break
    return centroids
