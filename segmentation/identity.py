"""Stable segment ids for a first fit (a canonical order), and the fingerprint of training data; a refit's
matching to the served model is `segmentation.lineage`."""

import hashlib

import numpy as np

__all__ = ["canonical_order", "fingerprint"]


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
