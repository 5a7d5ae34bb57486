"""Log transform for heavy-tailed features, then standard scaling."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np

from segmentation.exceptions import InvalidParameterError, NotFittedError
from segmentation.features import FEATURES, HEAVY_TAILED

__all__ = ["LeadScaler", "ScalerState"]


@dataclass(frozen=True)
class ScalerState:
    """A fitted `LeadScaler` as plain values: its parameters and, per feature, the mean and scale."""

    features: tuple[str, ...]
    log_features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]


class LeadScaler:
    """`log1p` on the heavy-tailed features, then zero mean and unit variance per feature.

    Examples:
        >>> import numpy as np
        >>> X = np.array([[0.0, 1.0], [0.0, 3.0], [0.0, 5.0]])
        >>> scaler = LeadScaler(features=("a", "b"), log_features=()).fit(X)
        >>> scaler.transform(X)[:, 1].round(3).tolist()
        [-1.225, 0.0, 1.225]
        >>> LeadScaler.from_state(scaler.to_state()).transform(X)[:, 1].round(3).tolist()
        [-1.225, 0.0, 1.225]
    """

    def __init__(self, *, features: Sequence[str] = FEATURES, log_features: Sequence[str] = HEAVY_TAILED) -> None:
        self.features = tuple(features)
        self.log_features = tuple(log_features)

    def fit(self, X: np.ndarray) -> Self:
        logged = self._learn_log_mask()._log(X)
        self.mean_ = logged.mean(axis=0)
        scale = logged.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def to_state(self) -> ScalerState:
        """What `fit` learned, as plain numbers; `from_state` rebuilds the same scaler from it."""
        self._check_fitted()
        return ScalerState(self.features, self.log_features, tuple(self.mean_.tolist()), tuple(self.scale_.tolist()))

    @classmethod
    def from_state(cls, state: ScalerState) -> Self:
        """A fitted scaler that transforms exactly as the one `state` came from."""
        scaler = cls(features=state.features, log_features=state.log_features)._learn_log_mask()
        scaler.mean_, scaler.scale_ = np.array(state.mean, dtype=np.float64), np.array(state.scale, dtype=np.float64)
        return scaler

    def transform(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        result: np.ndarray = (self._log(X) - self.mean_) / self.scale_
        return result

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def _learn_log_mask(self) -> Self:
        unknown = set(self.log_features) - set(self.features)
        if unknown:
            raise InvalidParameterError(f"log_features not among the features: {sorted(unknown)}")
        self.log_mask_ = np.array([name in self.log_features for name in self.features])
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise NotFittedError("LeadScaler is not fitted yet: call fit first")

    def _log(self, X: np.ndarray) -> np.ndarray:
        out = np.array(X, dtype=np.float64, copy=True)
        out[:, self.log_mask_] = np.log1p(out[:, self.log_mask_])
        return out
