"""DBSCAN and agglomerative clustering, compared with the K-Means segments on the same leads."""

from dataclasses import dataclass, field

import numpy as np

from segmentation.exceptions import InvalidParameterError

__all__ = ["DensityComparison", "HierarchicalComparison", "compare_dbscan", "compare_hierarchical", "knee_eps"]


@dataclass(frozen=True)
class DensityComparison:
    """DBSCAN on `sample_size` leads: clusters found, noise points, and agreement with K-Means
    (adjusted Rand index, noise counted as its own group); `rows` and `labels` for plots."""

    eps: float
    min_samples: int
    n_clusters: int
    noise: int
    noise_share: float
    ari_vs_kmeans: float
    sample_size: int
    rows: np.ndarray = field(repr=False, compare=False)
    labels: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class HierarchicalComparison:
    """Agglomerative (Ward) clustering into the same K on `sample_size` leads, and its ARI with K-Means."""

    n_clusters: int
    linkage: str
    ari_vs_kmeans: float
    sample_size: int


def knee_eps(Z: np.ndarray, min_samples: int) -> float:
    """DBSCAN radius at the knee of the sorted k-distance curve (the point farthest below the chord).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> Z = np.vstack([rng.normal(0, 0.1, (100, 2)), rng.normal(5, 0.1, (100, 2))])
        >>> 0.05 < knee_eps(Z, 4) < 0.5
        True
    """
    if not 2 <= min_samples <= len(Z):
        raise InvalidParameterError(f"the k-distance curve needs 2 <= min_samples <= {len(Z)} leads, got {min_samples}")
    # Imported here, not at the top: a worker that only assigns never loads scikit-learn.
    from sklearn.neighbors import NearestNeighbors

    distances, _ = NearestNeighbors(n_neighbors=min_samples).fit(Z).kneighbors(Z)
    curve = np.sort(distances[:, -1])
    x = np.linspace(0, 1, len(curve))
    span = curve[-1] - curve[0]
    y = (curve - curve[0]) / span if span > 0 else np.zeros_like(curve)
    return float(curve[int(np.argmax(x - y))])


def compare_dbscan(
    Z: np.ndarray,
    kmeans_labels: np.ndarray,
    *,
    eps: float | None = None,
    min_samples: int | None = None,
    sample_size: int = 10_000,
    random_state: int = 0,
) -> DensityComparison:
    """Run DBSCAN on (a sample of) `Z`; `eps` from `knee_eps` and `min_samples` = 2 × dimensions by default.

    Fewer than 2 × `min_samples` leads give no density to speak of, and identical leads no radius: both raise
    `InvalidParameterError` saying so, for the caller to report the comparison as skipped.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> blobs = [rng.normal(0, 0.1, (100, 2)), rng.normal(5, 0.1, (100, 2)), rng.uniform(-5, 10, (10, 2))]
        >>> c = compare_dbscan(np.vstack(blobs), np.repeat([0, 1, 2], [100, 100, 10]))
        >>> c.n_clusters, c.noise, c.ari_vs_kmeans > 0.9
        (2, 11, True)
    """
    rows = _sample(len(Z), sample_size, random_state)
    sample = Z[rows]
    min_samples = min_samples or 2 * Z.shape[1]
    if len(rows) < 2 * min_samples:
        raise InvalidParameterError(
            f"DBSCAN needs at least {2 * min_samples} leads (twice min_samples {min_samples}), got {len(rows)}"
        )
    if eps is None:
        eps = knee_eps(sample, min_samples)
        if eps <= 0:
            raise InvalidParameterError(
                f"DBSCAN found no radius: the k-distance knee is 0 (groups of {min_samples} identical leads)"
            )
    if eps <= 0:
        raise InvalidParameterError(f"DBSCAN eps must be positive, got {eps}")
    from sklearn.cluster import DBSCAN  # see knee_eps
    from sklearn.metrics import adjusted_rand_score

    labels = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(sample)
    noise = int((labels == -1).sum())
    return DensityComparison(
        eps=float(eps),
        min_samples=min_samples,
        n_clusters=len(set(labels.tolist()) - {-1}),
        noise=noise,
        noise_share=noise / len(rows),
        ari_vs_kmeans=float(adjusted_rand_score(kmeans_labels[rows], labels)),
        sample_size=len(rows),
        rows=rows,
        labels=labels,
    )


def compare_hierarchical(
    Z: np.ndarray, kmeans_labels: np.ndarray, k: int, *, sample_size: int = 5_000, random_state: int = 0
) -> HierarchicalComparison:
    """Ward agglomerative clustering into `k` groups on (a sample of) `Z` (memory grows with n²); fewer than
    `k` (or 2) leads raise `InvalidParameterError`.

    Examples:
        >>> import numpy as np
        >>> Z = np.array([[0.0], [0.1], [5.0], [5.1]])
        >>> compare_hierarchical(Z, np.array([0, 0, 1, 1]), 2).ari_vs_kmeans
        1.0
    """
    rows = _sample(len(Z), sample_size, random_state)
    if len(rows) < max(k, 2):
        raise InvalidParameterError(
            f"Ward clustering into {k} groups needs at least {max(k, 2)} leads, got {len(rows)}"
        )
    from sklearn.cluster import AgglomerativeClustering  # see knee_eps
    from sklearn.metrics import adjusted_rand_score

    labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(Z[rows])
    return HierarchicalComparison(k, "ward", float(adjusted_rand_score(kmeans_labels[rows], labels)), len(rows))


def _sample(n: int, size: int, random_state: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size, replace=False))
