"""Stable segment ids: a canonical order for a first fit, matching to the previous model on refits."""

import hashlib

import numpy as np

__all__ = ["canonical_order", "fingerprint", "match_to_previous"]


def canonical_order(centroids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Permutation that sorts clusters by size (largest first), ties by centroid coordinates.

    `order[new_id] = old_id`. Examples:
        >>> import numpy as np
        >>> canonical_order(np.array([[0.0], [5.0]]), np.array([0, 1, 1])).tolist()
        [1, 0]
    """
    sizes = np.bincount(labels, minlength=len(centroids))
    keys = [(-int(sizes[i]), tuple(np.round(centroids[i], 9))) for i in range(len(centroids))]
    return np.array(sorted(range(len(centroids)), key=keys.__getitem__))


def match_to_previous(centroids: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Id for each new centroid so that segments keep the id of the nearest old one.

    Hungarian matching on squared distance; new centroids beyond the old count get fresh ids
    after the old ones. Examples:
        >>> import numpy as np
        >>> match_to_previous(np.array([[9.0], [0.0], [4.0]]), np.array([[0.0], [10.0]])).tolist()
        [1, 0, 2]
    """
    # Imported here, not at the top: a worker that only assigns never loads SciPy.
    from scipy.optimize import linear_sum_assignment

    cost = ((centroids[:, None, :] - previous[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    ids = np.full(len(centroids), -1)
    ids[rows] = cols
    unmatched = np.flatnonzero(ids < 0)
    ids[unmatched] = len(previous) + np.arange(unmatched.size)
    return ids


def fingerprint(X: np.ndarray) -> str:
    """SHA-256 of the training matrix (shape and float64 bytes): names the data a model saw.

    Examples:
        >>> import numpy as np
        >>> fingerprint(np.zeros((2, 3)))[:12]
        'sha256:0fe2c'
    """
    data = np.ascontiguousarray(X, dtype=np.float64)
    digest = hashlib.sha256(repr(data.shape).encode() + data.tobytes()).hexdigest()
    return f"sha256:{digest}"
