"""Choose the number of segments K by several criteria at once, and say why."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from segmentation.exceptions import InvalidParameterError
from segmentation.kmeans import fit_kmeans, squared_distances
from segmentation.silhouette import SilhouetteScorer

__all__ = ["KScore", "KSelection", "eligible", "find_optimal_clusters"]

_TRANSFORMED_CAP = 1e150  # finite for any p >= 1, and in JSON


@dataclass(frozen=True)
class KScore:
    """Quality of a K-segment fit. `jump` is Sugar and James' distortion jump; `stability` the ARI
    between fits on two resamples; `min_share` the smallest segment's share of leads."""

    k: int
    silhouette: float
    calinski_harabasz: float
    davies_bouldin: float
    stability: float
    min_share: float
    inertia: float
    jump: float


@dataclass(frozen=True)
class KSelection:
    """The recommended K, a one-sentence reason, and every K's scores."""

    k: int
    reason: str
    scores: tuple[KScore, ...]

    @property
    def silhouette_k(self) -> int:
        """The K silhouette alone would choose."""
        return max(self.scores, key=lambda s: s.silhouette).k


def find_optimal_clusters(
    Z: np.ndarray,
    *,
    max_k: int = 10,
    min_k: int = 2,
    scan_size: int = 10_000,
    silhouette_size: int = 10_000,
    min_stability: float = 0.8,
    min_share: float = 0.02,
    min_silhouette_ratio: float = 0.5,
    random_state: int = 0,
    on_k: Callable[[int], None] | None = None,
) -> KSelection:
    """Score K = min_k..max_k on the scaled matrix `Z` and recommend one.

    The recommendation is the K with the largest distortion jump (the elbow) among the *eligible*
    K: segments reproducible on resamples (`stability >= min_stability`), none tiny (`min_share`),
    and separation not collapsed (silhouette at least `min_silhouette_ratio` of the best K's).
    Each guard vetoes one failure: arbitrary splits, dust segments, a compact group cut in pieces.
    Silhouette, Calinski-Harabasz and Davies-Bouldin are reported per K; on lead data with one
    far-away group they favour too few segments, so none of them decides alone. Rows above
    `scan_size` are subsampled for the scan; silhouette is exact up to `silhouette_size` rows.

    Examples:
        >>> from segmentation.synthetic import generate_leads
        >>> from segmentation.preprocessing import LeadScaler
        >>> Z = LeadScaler().fit_transform(generate_leads(3000, random_state=1).X)
        >>> find_optimal_clusters(Z, max_k=7).k
        5
    """
    n = len(Z)
    if not 2 <= min_k <= max_k:
        raise InvalidParameterError(f"need 2 <= min_k <= max_k, got min_k={min_k}, max_k={max_k}")
    if max_k >= n:
        raise InvalidParameterError(f"max_k={max_k} needs more than {max_k} leads, got {n}")
    rng = np.random.default_rng(random_state)
    sample = Z[rng.permutation(n)[:scan_size]]
    m, p = sample.shape
    # Imported here, not at the top: a worker that only assigns never loads scikit-learn.
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    silhouette = SilhouetteScorer(sample[:silhouette_size])
    # Distortion per dimension, transformed by -p/2 (Sugar & James 2003); K=1 is the total spread.
    previous = _transformed_distortion(float(((sample - sample.mean(axis=0)) ** 2).sum()), m, p)
    if min_k > 2:
        previous = _transformed_distortion(fit_kmeans(sample, min_k - 1, random_state=random_state).inertia, m, p)
    scores = []
    for k in range(min_k, max_k + 1):
        fit = fit_kmeans(sample, k, random_state=random_state)
        transformed = _transformed_distortion(fit.inertia, m, p)
        scores.append(
            KScore(
                k=k,
                silhouette=silhouette.score(fit.labels[:silhouette_size]),
                calinski_harabasz=float(calinski_harabasz_score(sample, fit.labels)),
                davies_bouldin=float(davies_bouldin_score(sample, fit.labels)),
                stability=_stability(sample, k, rng),
                min_share=float(np.bincount(fit.labels, minlength=k).min() / m),
                inertia=fit.inertia * n / m,
                jump=transformed - previous,
            )
        )
        previous = transformed
        if on_k is not None:
            on_k(k)
    return _recommend(tuple(scores), min_stability, min_share, min_silhouette_ratio)


def _transformed_distortion(inertia: float, m: int, p: int) -> float:
    # An exact fit (duplicate leads) has zero distortion: cap the result instead of dividing by zero.
    floor = _TRANSFORMED_CAP ** (-2 / p)
    return float(max(inertia / (m * p), floor) ** (-p / 2))


def _stability(sample: np.ndarray, k: int, rng: np.random.Generator, pairs: int = 2) -> float:
    """Mean ARI between the labels two fits on independent 80 % resamples give the whole sample (a resample
    keeps at least `k` leads, so that few leads still give K segments)."""
    from sklearn.metrics import adjusted_rand_score  # see find_optimal_clusters

    m = len(sample)
    size = min(m, max(int(0.8 * m), k))
    agreements = []
    for _ in range(pairs):
        labels = []
        for _ in range(2):
            rows = rng.choice(m, size, replace=False)
            seed = int(rng.integers(2**31))
            centroids = fit_kmeans(sample[rows], k, random_state=seed, n_init=2).centroids
            labels.append(squared_distances(sample, centroids).argmin(axis=1))
        agreements.append(adjusted_rand_score(*labels))
    return float(np.mean(agreements))


def eligible(
    scores: tuple[KScore, ...],
    *,
    min_stability: float = 0.8,
    min_share: float = 0.02,
    min_silhouette_ratio: float = 0.5,
) -> tuple[KScore, ...]:
    """The K that pass every guard of `find_optimal_clusters` (same defaults), sharpest distortion jump first.

    Examples:
        >>> def score(k, silhouette, stability, jump):
        ...     return KScore(k, silhouette, 0.0, 0.0, stability, 0.1, 0.0, jump)
        >>> [s.k for s in eligible((score(2, 0.6, 0.9, 1.0), score(3, 0.5, 0.95, 3.0), score(4, 0.2, 0.9, 4.0)))]
        [3, 2]
    """
    floor = min_silhouette_ratio * max(s.silhouette for s in scores)
    passing = [s for s in scores if s.stability >= min_stability and s.min_share >= min_share and s.silhouette >= floor]
    return tuple(sorted(passing, key=lambda s: -s.jump))


def _recommend(
    scores: tuple[KScore, ...], min_stability: float, min_share: float, min_silhouette_ratio: float
) -> KSelection:
    by_silhouette = max(scores, key=lambda s: s.silhouette)
    floor = min_silhouette_ratio * by_silhouette.silhouette
    passing = eligible(
        scores, min_stability=min_stability, min_share=min_share, min_silhouette_ratio=min_silhouette_ratio
    )
    if passing:
        best = passing[0]
        reason = (
            f"K={best.k} gives the sharpest drop in within-segment spread (distortion jump) among the K "
            f"whose segments are reproducible on resamples (ARI >= {min_stability:.2f}), hold at least "
            f"{min_share:.0%} of leads each and keep silhouette >= {floor:.3f}"
        )
    else:
        best = by_silhouette
        reason = (
            f"no K passes every guard (resample ARI >= {min_stability:.2f}, segments >= {min_share:.0%}), "
            f"so K={best.k}, the best separated (silhouette {best.silhouette:.3f}), is the fallback"
        )
    if by_silhouette.k != best.k:
        reason += (
            f"; silhouette alone would pick K={by_silhouette.k} ({by_silhouette.silhouette:.3f} against "
            f"{best.silhouette:.3f}), but fewer segments there merge groups whose spread the jump shows apart"
        )
    return KSelection(best.k, reason + ".", scores)
