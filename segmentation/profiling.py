"""What each segment looks like: per feature mean, median and z-score against all leads."""

from dataclasses import dataclass

import numpy as np

__all__ = ["SegmentProfile", "profile_segments"]


@dataclass(frozen=True)
class SegmentProfile:
    """One segment's size and, per feature (in the model's feature order), its raw mean and
    median and the z-score of its mean on the model's scale (log for heavy-tailed features)."""

    index: int
    size: int
    share: float
    mean: tuple[float, ...]
    median: tuple[float, ...]
    z: tuple[float, ...]


def profile_segments(X: np.ndarray, Zs: np.ndarray, labels: np.ndarray, k: int) -> tuple[SegmentProfile, ...]:
    """Profile segments 0..k-1 from raw features `X` and their scaled form `Zs` (zero mean, unit
    variance over the training leads). An empty segment gets size 0 and NaN statistics.

    Examples:
        >>> import numpy as np
        >>> X = np.array([[1.0], [3.0], [10.0]])
        >>> Zs = (X - X.mean()) / X.std()
        >>> p = profile_segments(X, Zs, np.array([0, 0, 1]), 2)
        >>> p[0].size, p[0].mean, round(p[1].z[0], 2)
        (2, (2.0,), 1.38)
    """
    profiles = []
    n = len(labels)
    for index in range(k):
        rows = labels == index
        size = int(rows.sum())
        if size:
            mean, median, z = X[rows].mean(axis=0), np.median(X[rows], axis=0), Zs[rows].mean(axis=0)
        else:
            mean = median = z = np.full(X.shape[1], np.nan)
        profiles.append(SegmentProfile(index, size, size / n if n else 0.0, _floats(mean), _floats(median), _floats(z)))
    return tuple(profiles)


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)
