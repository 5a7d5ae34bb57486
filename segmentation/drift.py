"""Drift: how leads sit in a fitted model's segments (share, mean distance to the centroid, outliers, leads
beyond every segment's radius), and how far those figures moved from the ones the training leads gave."""

from dataclasses import dataclass

import numpy as np

from segmentation.kmeans import squared_distances
from segmentation.segmenter import LeadSegmenter

__all__ = ["DriftFigures", "DriftThresholds", "Placement", "drift_figures", "drift_reasons", "drift_score", "place"]


@dataclass(frozen=True)
class Placement:
    """Per lead: its segment index, distance to that centroid, whether it lies beyond that segment's radius
    (the last of its `DISTANCE_QUANTILES`: the rule of `LeadSegmenter.assign`'s `is_outlier`), and whether it
    lies beyond every segment's radius (a lead no segment describes)."""

    segment: np.ndarray
    distance: np.ndarray
    outlier: np.ndarray
    beyond_every: np.ndarray


@dataclass(frozen=True)
class DriftFigures:
    """Figures of `leads` leads in K segments: per segment its count, share, mean distance and outlier share
    (NaN for a segment without leads), and the share of leads beyond every radius."""

    leads: int
    counts: np.ndarray
    shares: np.ndarray
    mean_distances: np.ndarray
    outlier_shares: np.ndarray
    beyond_share: float


@dataclass(frozen=True)
class DriftThresholds:
    """Drift is a segment's mean distance `distance_ratio` times its fit-time one, or its outlier share (or the
    share of leads beyond every radius) `outlier_excess` above fit time, or a `traffic_shift` share of leads
    sitting in other segments than at fit time (half the summed share changes). Segments with fewer than
    `min_segment_leads` leads in the window are not judged on distance or outliers."""

    distance_ratio: float = 1.5
    outlier_excess: float = 0.10
    traffic_shift: float = 0.15
    min_segment_leads: int = 50


def place(model: LeadSegmenter, X: np.ndarray) -> Placement:
    """Where each lead of `X` sits in `model`.

    Examples:
        >>> from segmentation.synthetic import generate_leads
        >>> leads = generate_leads(2000, random_state=3)
        >>> model = LeadSegmenter(n_clusters=5, random_state=0).fit(leads.X)
        >>> placed = place(model, leads.X)
        >>> bool((placed.segment == model.labels_).all()), round(float(placed.outlier.mean()), 2)
        (True, 0.01)
    """
    d2 = squared_distances(model.transform(X), model.centroids_)
    segment = d2.argmin(axis=1)
    radii = model.distance_quantiles_[:, -1]
    distance = np.sqrt(d2[np.arange(len(d2)), segment])
    beyond_every = np.all(d2 > radii**2, axis=1)
    return Placement(segment, distance, distance > radii[segment], beyond_every)


def drift_figures(placed: Placement, k: int) -> DriftFigures:
    """The figures of the placed leads in `k` segments, in a few vectorized counts.

    Examples:
        >>> placed = Placement(np.array([0, 0, 1, 1]), np.array([1.0, 3.0, 2.0, 2.0]),
        ...     np.array([False, True, False, False]), np.array([False, True, False, False]))
        >>> figures = drift_figures(placed, 3)
        >>> figures.shares.tolist(), figures.mean_distances.tolist()[:2], figures.outlier_shares.tolist()[:2]
        ([0.5, 0.5, 0.0], [2.0, 2.0], [0.5, 0.0])
        >>> figures.beyond_share, bool(np.isnan(figures.mean_distances[2]))
        (0.25, True)
    """
    n = len(placed.segment)
    counts = np.bincount(placed.segment, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_distances = np.bincount(placed.segment, weights=placed.distance, minlength=k) / counts
        outlier_shares = np.bincount(placed.segment, weights=placed.outlier, minlength=k) / counts
    return DriftFigures(
        leads=n,
        counts=counts,
        shares=counts / n if n else np.zeros(k),
        mean_distances=mean_distances,
        outlier_shares=outlier_shares,
        beyond_share=float(placed.beyond_every.mean()) if n else 0.0,
    )


def drift_score(fit: DriftFigures, now: DriftFigures, thresholds: DriftThresholds) -> float:
    """The largest of the figures as a fraction of its threshold: 1 or more is drift, 0 is the fit itself.

    Examples:
        >>> fit = DriftFigures(1000, np.array([500, 500]), np.array([0.5, 0.5]), np.array([1.0, 2.0]),
        ...     np.array([0.01, 0.01]), 0.002)
        >>> now = DriftFigures(1000, np.array([500, 500]), np.array([0.5, 0.5]), np.array([1.0, 3.5]),
        ...     np.array([0.01, 0.01]), 0.002)
        >>> drift_score(fit, now, DriftThresholds())  # segment 1 at 1.75x its distance, against 1.5x
        1.5
    """
    judged = now.counts >= thresholds.min_segment_leads
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(judged, now.mean_distances / fit.mean_distances, 1.0)
    outliers = np.where(judged, now.outlier_shares - fit.outlier_shares, 0.0)
    parts = [
        float(np.max(ratio - 1, initial=0.0)) / (thresholds.distance_ratio - 1),
        float(np.max(outliers, initial=0.0)) / thresholds.outlier_excess,
        (now.beyond_share - fit.beyond_share) / thresholds.outlier_excess,
        _traffic_shift(fit, now) / thresholds.traffic_shift,
    ]
    return round(max(0.0, *parts), 4)


def drift_reasons(fit: DriftFigures, now: DriftFigures, thresholds: DriftThresholds, ids: list[int]) -> tuple[str, ...]:
    """What is past a threshold, one phrase each, segments named by their `ids`.

    Examples:
        >>> fit = DriftFigures(1000, np.array([500, 500]), np.array([0.5, 0.5]), np.array([1.0, 2.0]),
        ...     np.array([0.01, 0.01]), 0.002)
        >>> now = DriftFigures(1000, np.array([200, 800]), np.array([0.2, 0.8]), np.array([1.0, 3.6]),
        ...     np.array([0.01, 0.3]), 0.12)
        >>> for reason in drift_reasons(fit, now, DriftThresholds(), [4, 7]):
        ...     print(reason)
        segment 7 mean distance 1.8x fit time
        segment 7 30% outliers (fit 1%)
        12% of leads beyond every radius (fit 0.2%)
        30% of leads in other segments than at fit time (segment 7 80%, fit 50%)
    """
    judged = now.counts >= thresholds.min_segment_leads
    reasons = []
    for i in np.flatnonzero(judged):
        ratio = now.mean_distances[i] / fit.mean_distances[i]
        if ratio >= thresholds.distance_ratio:
            reasons.append(f"segment {ids[i]} mean distance {ratio:.1f}x fit time")
    for i in np.flatnonzero(judged):
        if now.outlier_shares[i] - fit.outlier_shares[i] >= thresholds.outlier_excess:
            reasons.append(f"segment {ids[i]} {now.outlier_shares[i]:.0%} outliers (fit {fit.outlier_shares[i]:.0%})")
    if now.beyond_share - fit.beyond_share >= thresholds.outlier_excess:
        reasons.append(f"{now.beyond_share:.0%} of leads beyond every radius (fit {fit.beyond_share:.1%})")
    if (shift := _traffic_shift(fit, now)) >= thresholds.traffic_shift:
        most = int(np.argmax(np.abs(now.shares - fit.shares)))
        reasons.append(
            f"{shift:.0%} of leads in other segments than at fit time "
            f"(segment {ids[most]} {now.shares[most]:.0%}, fit {fit.shares[most]:.0%})"
        )
    return tuple(reasons)


def _traffic_shift(fit: DriftFigures, now: DriftFigures) -> float:
    """The share of leads that would have to change segment for the shares to be the fit's again."""
    return float(np.abs(now.shares - fit.shares).sum() / 2)
