"""Stable segment ids for a first fit (a canonical order), and the fingerprint of training data; a refit's
matching to the served model is `segmentation.lineage`."""

import hashlib

import numpy as np

__all__ = ["canonical_order", "content_order", "fingerprint"]


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


def content_order(X: np.ndarray) -> np.ndarray:
    """An order of the rows of `X` that depends on their values, not on the order they come in: by a 64-bit hash
    of each row's float64 words (FNV-1a over words, then a final mix). Equal rows are interchangeable; two unequal
    rows share a hash with probability about 2**-64. One pass per column and one sort of integers: for 1,000,000
    leads about 0.1 s, where a lexicographic sort of 12 columns took 2.9 s.

    Examples:
        >>> import numpy as np
        >>> rows = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        >>> (rows[content_order(rows)] == rows[::-1][content_order(rows[::-1])]).all()
        np.True_
    """
    words = np.ascontiguousarray(X, dtype=np.float64).view(np.uint64)
    hashes = np.full(len(words), 0xCBF29CE484222325, dtype=np.uint64)
    for column in words.T:
        hashes = (hashes ^ column) * np.uint64(0x100000001B3)
    hashes ^= hashes >> np.uint64(29)
    return np.argsort(hashes * np.uint64(0xBF58476D1CE4E5B9), kind="stable")


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
