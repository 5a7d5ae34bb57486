"""PCA: a 2-D view for plots, or a reduction that keeps a share of the variance before clustering."""

from dataclasses import dataclass

import numpy as np

from segmentation.exceptions import InvalidParameterError

__all__ = ["Projection", "fit_projection"]


@dataclass(frozen=True)
class Projection:
    """Principal axes of scaled leads: `components` (c × p), the `mean` removed first, and the
    share of variance each axis explains."""

    components: np.ndarray
    mean: np.ndarray
    explained_variance_ratio: np.ndarray

    @property
    def variance_retained(self) -> float:
        return float(self.explained_variance_ratio.sum())

    def transform(self, Z: np.ndarray) -> np.ndarray:
        result: np.ndarray = (Z - self.mean) @ self.components.T
        return result


def fit_projection(Z: np.ndarray, n_components: float) -> Projection:
    """Fit PCA on `Z`: a whole number keeps that many axes, a fraction in (0, 1) keeps as many
    axes as explain that share of the variance. Deterministic (full SVD, signs fixed).

    Examples:
        >>> import numpy as np
        >>> Z = np.random.default_rng(0).normal(size=(200, 4)) * [5, 2, 1, 0.1]
        >>> fit_projection(Z, 0.9).components.shape
        (2, 4)
        >>> round(fit_projection(Z, 2).variance_retained, 2)
        0.96
    """
    if len(Z) < 2:
        raise InvalidParameterError(f"PCA needs at least 2 leads, got {len(Z)}")
    if n_components >= 1:
        if n_components != int(n_components) or n_components > Z.shape[1]:
            raise InvalidParameterError(
                f"PCA components must be a whole number up to {Z.shape[1]}, got {n_components:g}"
            )
        if n_components > len(Z):
            raise InvalidParameterError(
                f"PCA with {n_components:g} components needs at least as many leads, got {len(Z)}"
            )
        n_components = int(n_components)
    elif n_components <= 0:
        raise InvalidParameterError(
            f"PCA takes a component count >= 1 or a variance share in (0, 1), got {n_components:g}"
        )
    # Imported here, not at the top: a worker that only assigns never loads scikit-learn.
    from sklearn.decomposition import PCA

    pca = PCA(n_components=n_components, svd_solver="full").fit(Z)
    return Projection(pca.components_, pca.mean_, pca.explained_variance_ratio_)
