"""K-Means for small data, MiniBatchKMeans for large: seeded, with canonical cluster ids."""

from dataclasses import dataclass

import numpy as np

from segmentation.exceptions import InvalidParameterError
from segmentation.identity import canonical_order

__all__ = ["MINIBATCH_ABOVE", "KMeansFit", "fit_kmeans", "squared_distances"]

# Above this many rows the exact Lloyd iterations get slow on two cores; mini-batches do not.
MINIBATCH_ABOVE = 50_000


@dataclass(frozen=True)
class KMeansFit:
    """Centroids in canonical order, each row's label, the inertia and the algorithm used."""

    centroids: np.ndarray
    labels: np.ndarray
    inertia: float
    algorithm: str


def fit_kmeans(Z: np.ndarray, k: int, *, random_state: int = 0, algorithm: str = "auto", n_init: int = 3) -> KMeansFit:
    """Cluster the scaled matrix `Z` into `k` segments; the same seed gives the same result.

    `algorithm` is "kmeans", "minibatch" or "auto" (mini-batches above `MINIBATCH_ABOVE` rows).

    Examples:
        >>> import numpy as np
        >>> Z = np.array([[0.0], [0.1], [5.0], [5.1], [5.2]])
        >>> fit = fit_kmeans(Z, 2)
        >>> fit.labels.tolist(), fit.algorithm
        ([1, 1, 0, 0, 0], 'kmeans')
    """
    if not 1 <= k <= len(Z):
        raise InvalidParameterError(f"k must be between 1 and the number of leads ({len(Z)}), got {k}")
    if algorithm not in ("auto", "kmeans", "minibatch"):
        raise InvalidParameterError(f"algorithm must be auto, kmeans or minibatch, got {algorithm!r}")
    # Imported here, not at the top: a worker that only assigns never loads scikit-learn.
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if algorithm == "auto":
        algorithm = "minibatch" if len(Z) > MINIBATCH_ABOVE else "kmeans"
    estimator: KMeans | MiniBatchKMeans
    if algorithm == "kmeans":
        estimator = KMeans(n_clusters=k, n_init=n_init, random_state=random_state)
    else:
        estimator = MiniBatchKMeans(n_clusters=k, n_init=n_init, batch_size=4096, random_state=random_state)
    labels = estimator.fit_predict(Z)
    order = canonical_order(estimator.cluster_centers_, labels)
    centroids = estimator.cluster_centers_[order]
    # Recompute labels as nearest centroid so that predicting with the stored centroids
    # reproduces them exactly (MiniBatchKMeans' labels can lag its final centers).
    labels = squared_distances(Z, centroids).argmin(axis=1)
    inertia = float(((Z - centroids[labels]) ** 2).sum())
    return KMeansFit(centroids, labels, inertia, algorithm)


def squared_distances(Z: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of every row to every centroid, as one matrix product."""
    d2 = (Z**2).sum(axis=1)[:, None] - 2 * Z @ centroids.T + (centroids**2).sum(axis=1)[None, :]
    result: np.ndarray = np.maximum(d2, 0.0)
    return result
