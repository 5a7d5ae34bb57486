"""`LeadSegmenter`: scale, optionally reduce, choose K, cluster, and assign new leads with explanations."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from segmentation.exceptions import InvalidLeadsError, InvalidParameterError, NotFittedError
from segmentation.features import FEATURES, HEAVY_TAILED, check_matrix
from segmentation.kmeans import fit_kmeans, squared_distances
from segmentation.preprocessing import LeadScaler, ScalerState
from segmentation.projection import Projection, fit_projection
from segmentation.selection import KSelection, find_optimal_clusters

__all__ = ["DISTANCE_QUANTILES", "Assignment", "LeadSegmenter", "PcaState", "SegmenterState"]

# Per-segment quantiles of training distances kept in the model; the last flags outliers.
DISTANCE_QUANTILES = (0.5, 0.9, 0.99)

Rows = tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class Assignment:
    """Per lead: segment index, distance to its centroid, confidence (1 - that distance / the nearest other
    segment's, 0 when a lead sits midway or, held in its previous segment by hysteresis, past it), the indices
    of the `top` features that most favour its segment over the runner-up, and whether it lies beyond the
    segment's outlier distance."""

    segment: np.ndarray
    distance: np.ndarray
    confidence: np.ndarray
    top_features: np.ndarray
    is_outlier: np.ndarray


@dataclass(frozen=True)
class PcaState:
    """The PCA axes a segmenter reduces with, as plain numbers (see `Projection`)."""

    components: Rows
    mean: tuple[float, ...]
    explained_variance_ratio: tuple[float, ...]


@dataclass(frozen=True)
class SegmenterState:
    """A fitted `LeadSegmenter` as plain values, what a model file stores: the scaler, the PCA axes if
    any, per segment its centroid (in the clustering space), feature centroid (on the scaled features)
    and `DISTANCE_QUANTILES`, and how the fit went. Matrices are tuples of rows, one per segment."""

    scaler: ScalerState
    pca: PcaState | None
    centroids: Rows
    feature_centroids: Rows
    distance_quantiles: Rows
    random_state: int
    algorithm: str
    inertia: float
    n_leads: int
    selection: KSelection | None


class LeadSegmenter:
    """Segments leads: `log1p` + standard scaling, optional PCA, K chosen by
    `find_optimal_clusters` unless `n_clusters` is given, then (MiniBatch)KMeans.

    Examples:
        >>> from segmentation.synthetic import generate_leads
        >>> leads = generate_leads(2000, random_state=3)
        >>> model = LeadSegmenter(random_state=0).fit(leads.X)
        >>> model.n_clusters_, bool((model.predict(leads.X) == model.labels_).all())
        (5, True)
    """

    def __init__(
        self,
        *,
        n_clusters: int | None = None,
        max_k: int = 10,
        features: Sequence[str] = FEATURES,
        log_features: Sequence[str] = HEAVY_TAILED,
        pca: float | None = None,
        algorithm: str = "auto",
        random_state: int = 0,
    ) -> None:
        self.n_clusters = n_clusters
        self.max_k = max_k
        self.features = tuple(features)
        self.log_features = tuple(log_features)
        self.pca = pca
        self.algorithm = algorithm
        self.random_state = random_state

    def fit(self, X: np.ndarray, *, on_k: Callable[[int], None] | None = None) -> Self:
        X = check_matrix(X, self.features)
        self.scaler_ = LeadScaler(features=self.features, log_features=self.log_features).fit(X)
        scaled = self.scaler_.transform(X)
        self.projection_: Projection | None = fit_projection(scaled, self.pca) if self.pca else None
        Z = self._reduce(scaled)
        self.selection_: KSelection | None = None
        k = self.n_clusters
        if k is None:
            if len(Z) < 3:
                raise InvalidLeadsError(f"choosing K needs at least 3 leads, got {len(Z)}")
            self.selection_ = find_optimal_clusters(
                Z, max_k=min(self.max_k, len(Z) - 1), random_state=self.random_state, on_k=on_k
            )
            k = self.selection_.k
        fit = fit_kmeans(Z, k, random_state=self.random_state, algorithm=self.algorithm)
        self.n_clusters_, self.centroids_, self.labels_ = k, fit.centroids, fit.labels
        self.inertia_, self.algorithm_, self.n_leads_ = fit.inertia, fit.algorithm, len(X)
        self.feature_centroids_ = np.array([_mean_or_zero(scaled[fit.labels == i]) for i in range(k)])
        distances = np.sqrt(squared_distances(Z, fit.centroids)[np.arange(len(Z)), fit.labels])
        self.distance_quantiles_ = np.array(
            [
                np.quantile(distances[fit.labels == i], DISTANCE_QUANTILES)
                if (fit.labels == i).any()
                else np.zeros(len(DISTANCE_QUANTILES))
                for i in range(k)
            ]
        )
        return self

    def to_state(self) -> SegmenterState:
        """What `fit` learned, as plain numbers; `from_state` rebuilds the model from it."""
        self._check_fitted()
        projection = self.projection_
        return SegmenterState(
            scaler=self.scaler_.to_state(),
            pca=None
            if projection is None
            else PcaState(
                _rows(projection.components),
                tuple(projection.mean.tolist()),
                tuple(projection.explained_variance_ratio.tolist()),
            ),
            centroids=_rows(self.centroids_),
            feature_centroids=_rows(self.feature_centroids_),
            distance_quantiles=_rows(self.distance_quantiles_),
            random_state=self.random_state,
            algorithm=self.algorithm_,
            inertia=float(self.inertia_),
            n_leads=self.n_leads_,
            selection=self.selection_,
        )

    @classmethod
    def from_state(cls, state: SegmenterState) -> Self:
        """A fitted segmenter that assigns exactly as the one `state` came from, with the same
        `n_clusters_`, `inertia_`, `algorithm_`, `selection_` and `n_leads_`.

        The training leads' `labels_` (one per lead) are not part of the state, so a rebuilt model has
        none; `predict` on those leads gives them back. Its parameters are the ones that refit the same
        model from the same leads: K fixed unless it was chosen (then `max_k` is the largest K scored),
        PCA as its number of components, and the algorithm that ran.

        Examples:
            >>> from segmentation.synthetic import generate_leads
            >>> leads = generate_leads(1000, random_state=3)
            >>> model = LeadSegmenter(max_k=6, random_state=0).fit(leads.X)
            >>> loaded = LeadSegmenter.from_state(model.to_state())
            >>> loaded.n_clusters_, loaded.inertia_ == model.inertia_, loaded.selection_ == model.selection_
            (5, True, True)
            >>> bool((loaded.predict(leads.X) == model.labels_).all()), hasattr(loaded, "labels_")
            (True, False)
        """
        k, selection = len(state.centroids), state.selection
        chosen: dict[str, Any] = (
            {"n_clusters": k} if selection is None else {"max_k": max(score.k for score in selection.scores)}
        )
        model = cls(
            **chosen,
            features=state.scaler.features,
            log_features=state.scaler.log_features,
            pca=None if state.pca is None else len(state.pca.components),
            algorithm=state.algorithm,
            random_state=state.random_state,
        )
        model.scaler_ = LeadScaler.from_state(state.scaler)
        model.projection_ = (
            None
            if state.pca is None
            else Projection(
                np.array(state.pca.components, dtype=np.float64),
                np.array(state.pca.mean, dtype=np.float64),
                np.array(state.pca.explained_variance_ratio, dtype=np.float64),
            )
        )
        model.selection_ = selection
        model.n_clusters_ = k
        model.centroids_ = np.array(state.centroids, dtype=np.float64)
        model.feature_centroids_ = np.array(state.feature_centroids, dtype=np.float64)
        model.distance_quantiles_ = np.array(state.distance_quantiles, dtype=np.float64)
        model.inertia_, model.algorithm_, model.n_leads_ = state.inertia, state.algorithm, state.n_leads
        return model

    def scale(self, X: np.ndarray) -> np.ndarray:
        """Leads on the model's feature scale (log where configured, standardized), before PCA."""
        self._check_fitted()
        return self.scaler_.transform(X)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Leads in the space the centroids live in (scaled, then PCA-reduced if configured)."""
        return self._reduce(self.scale(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(squared_distances(self.transform(X), self.centroids_).argmin(axis=1))

    def assign(
        self, X: np.ndarray, *, top: int = 3, previous: np.ndarray | None = None, margin: float = 0.0
    ) -> Assignment:
        """Nearest segment per lead, with distance, confidence, top features and outlier flag.

        Hysteresis: with `previous` (per lead the index of its previous segment, -1 for none) and `margin` > 0, a
        lead stays in its previous segment unless its distance to it exceeds its distance to the nearest one by
        more than `margin` (relative: `d_previous > (1 + margin) * d_nearest` moves it); everything returned then
        describes the segment it stays in. `margin` 0 is the plain nearest segment.

        Examples:
            >>> from segmentation.synthetic import generate_leads
            >>> model = LeadSegmenter(n_clusters=5, random_state=0).fit(generate_leads(1000, random_state=3).X)
            >>> X = generate_leads(300, random_state=4).X
            >>> nearest = model.assign(X)
            >>> other = (nearest.segment + 1) % 5  # each lead's previous segment: not its nearest one
            >>> int((model.assign(X, previous=other, margin=0.1).segment == other).sum())  # near a boundary: held
            5
            >>> bool((model.assign(X, previous=other, margin=100).segment == other).all())
            True
        """
        scaled = self.scale(X)
        d2 = squared_distances(self._reduce(scaled), self.centroids_)
        rows = np.arange(len(d2))
        # argmin, like `predict`, so that a lead equidistant to two segments gets the same one.
        first = d2.argmin(axis=1)
        if previous is not None and margin > 0:
            first = self._held(d2, rows, first, previous, margin)
        second = first
        if d2.shape[1] > 1:
            others = d2.copy()
            others[rows, first] = np.inf
            second = others.argmin(axis=1)
        distance = np.sqrt(d2[rows, first])
        runner_up = np.sqrt(d2[rows, second])
        confidence = np.divide(runner_up - distance, runner_up, out=np.zeros_like(distance), where=runner_up > 0)
        np.maximum(confidence, 0, out=confidence)  # a lead held past midway: 0, as at midway
        own, other = self.feature_centroids_[first], self.feature_centroids_[second]
        pull = (scaled - other) ** 2 - (scaled - own) ** 2
        top_features = np.argsort(-pull, axis=1, kind="stable")[:, :top]
        is_outlier = distance > self.distance_quantiles_[first, -1]
        return Assignment(first, distance, confidence, top_features, is_outlier)

    def _held(
        self, d2: np.ndarray, rows: np.ndarray, nearest: np.ndarray, previous: np.ndarray, margin: float
    ) -> np.ndarray:
        """Per lead its previous segment if within `margin` of the nearest (compared squared), else the nearest."""
        k = len(self.centroids_)
        if previous.shape != nearest.shape or ((previous < -1) | (previous >= k)).any():
            raise InvalidParameterError(f"previous: one segment index (0 to {k - 1}, or -1 for none) per lead")
        held = np.where(previous >= 0, previous, nearest)
        stays = d2[rows, held] <= (1 + margin) ** 2 * d2[rows, nearest]
        return np.where(stays, held, nearest)

    def _reduce(self, scaled: np.ndarray) -> np.ndarray:
        return scaled if self.projection_ is None else self.projection_.transform(scaled)

    def _check_fitted(self) -> None:
        if not hasattr(self, "centroids_"):
            raise NotFittedError("LeadSegmenter is not fitted yet: call fit first")


def _rows(matrix: np.ndarray) -> Rows:
    return tuple(tuple(row) for row in matrix.tolist())


def _mean_or_zero(rows: np.ndarray) -> np.ndarray:
    """Mean of the rows; the population mean (zero on the scaled axis) for an empty segment."""
    return rows.mean(axis=0) if len(rows) else np.zeros(rows.shape[1])
