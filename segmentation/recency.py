"""Recency-weighted sampling without replacement: Efraimidis–Spirakis A-ES keys with weights that double
every half-life, so a row seen one half-life later is twice as likely to be kept."""

import math

import numpy as np

from segmentation.exceptions import InvalidParameterError

__all__ = ["MAX_NOISE", "RecencySample", "admitted", "best", "recency_keys", "row_dtype"]

# -ln(-ln u) for the largest float64 below 1: no key exceeds its time term t·ln2/h by more than this.
MAX_NOISE = 37.0


def recency_keys(u: np.ndarray, t: float, half_life: float) -> np.ndarray:
    """The keys of rows seen at time `t` (seconds) from uniform draws `u` in (0, 1): ln(u^(1/w)) with
    w = 2^(t/half_life), written as ln w − ln(−ln u) so that it neither overflows nor underflows. The rows
    with the largest keys are a sample drawn with probability proportional to w, without replacement.

    Examples:
        >>> keys = recency_keys(np.array([0.5, 0.5]), 0.0, 1.0) - recency_keys(np.array([0.5, 0.5]), 1.0, 1.0)
        >>> np.round(keys, 6).tolist()
        [-0.693147, -0.693147]
    """
    keys: np.ndarray = t * math.log(2) / half_life - np.log(-np.log(u))
    return keys


def admitted(u: np.ndarray, t: float, half_life: float, threshold: float) -> np.ndarray:
    """Which draws `u` give a key above `threshold` (as `recency_keys` would), without a logarithm per row.

    Examples:
        >>> u = np.random.default_rng(0).random(100_000)
        >>> bool((admitted(u, 5.0, 2.0, 3.0) == (recency_keys(u, 5.0, 2.0) > 3.0)).all())
        True
    """
    gap = threshold - t * math.log(2) / half_life  # key > threshold  <=>  -ln(-ln u) > gap  <=>  u > exp(-exp(-gap))
    floor = 0.0 if gap < -700 else math.exp(-math.exp(-gap))
    return u > floor


def row_dtype(n_features: int) -> np.dtype:
    """One kept row: its key, and its features as little-endian float32 (half the memory of float64, and
    far finer than any difference a clustering of leads can see)."""
    return np.dtype([("key", "<f8"), ("features", "<f4", (n_features,))])


def best(chunks: list[np.ndarray], capacity: int) -> tuple[np.ndarray, float]:
    """The rows (of `row_dtype`) with the `capacity` largest keys among `chunks`, and the smallest key kept if
    any row was cut (no row at or below it can enter any more), else -inf.

    Examples:
        >>> rows = np.zeros(4, row_dtype(1))
        >>> rows["key"] = [3.0, 1.0, 4.0, 2.0]
        >>> kept, floor = best([rows[:2], rows[2:]], 2)
        >>> sorted(kept["key"].tolist()), floor
        ([3.0, 4.0], 3.0)
    """
    rows = np.concatenate(chunks) if len(chunks) != 1 else chunks[0]
    if len(rows) <= capacity:
        return rows, -math.inf
    rows = rows[np.argpartition(rows["key"], len(rows) - capacity)[-capacity:]]
    return rows, float(rows["key"].min())


class RecencySample:
    """The `capacity` rows with the largest recency keys among those offered, in memory.

    An offered row whose key cannot beat `threshold` is never stored: a cost of one uniform draw and one
    comparison per row. Once `full` (twice `capacity` rows held) the owner cuts them back with `take` (or
    `best` on the `detach`ed rows, off the latency-critical path), which raises the threshold to the smallest
    key kept; an owner that knows a better bound (the smallest key of a full shared sample) sets `threshold`.

    Examples:
        >>> sample = RecencySample(capacity=100, half_life=10.0, n_features=2, random_state=0)
        >>> for t in range(50):
        ...     sample.offer(np.full((20, 2), float(t)), t=float(t))
        ...     if sample.full:
        ...         sample.hold(sample.take())
        >>> kept = sample.take()
        >>> len(kept), bool(kept["features"][:, 0].mean() > 30)
        (100, True)
    """

    def __init__(self, *, capacity: int, half_life: float, n_features: int, random_state: int | None = None) -> None:
        if capacity < 1 or half_life <= 0:
            raise InvalidParameterError(f"capacity and half_life must be positive, got {capacity}, {half_life}")
        self.capacity = capacity
        self.half_life = half_life
        self.dtype = row_dtype(n_features)
        self.threshold = -math.inf
        self._rng = np.random.default_rng(random_state)
        self._chunks: list[np.ndarray] = []
        self._held = 0

    def __len__(self) -> int:
        return self._held

    @property
    def full(self) -> bool:
        """Whether the rows held reached twice `capacity`: time to cut them back."""
        return self._held >= 2 * self.capacity

    def offer(self, X: np.ndarray, t: float) -> None:
        """Rows seen at time `t` (seconds): those whose key beats the threshold are held."""
        u = self._rng.random(len(X))
        keep = admitted(u, t, self.half_life, self.threshold)
        if not keep.any():
            return
        rows = np.empty(int(keep.sum()), self.dtype)
        rows["key"] = recency_keys(u[keep], t, self.half_life)
        rows["features"] = X[keep]
        self.hold(rows)

    def hold(self, rows: np.ndarray) -> None:
        """Hold rows that already have keys (rows taken and not delivered, say)."""
        self._chunks.append(rows)
        self._held += len(rows)

    def detach(self) -> list[np.ndarray]:
        """The rows held, in chunks as they came, and none held any more."""
        chunks, self._chunks, self._held = self._chunks, [], 0
        return chunks

    def take(self) -> np.ndarray:
        """The best `capacity` rows held (see `best`), and none held any more."""
        chunks = self.detach()
        if not chunks:
            return np.empty(0, self.dtype)
        rows, floor = best(chunks, self.capacity)
        self.threshold = max(self.threshold, floor)
        return rows
