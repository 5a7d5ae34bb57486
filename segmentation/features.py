"""The twelve lead features, their bounds, and the checks every input must pass."""

from dataclasses import dataclass

import numpy as np

from segmentation.exceptions import InvalidLeadsError

__all__ = ["BOUNDS", "FEATURES", "HEAVY_TAILED", "Bound", "Violation", "check_matrix", "find_violations"]

FEATURES: tuple[str, ...] = (
    "engagement_score",
    "company_size",
    "website_traffic",
    "email_open_rate",
    "linkedin_connections",
    "pricing_page_visits",
    "time_on_site",
    "pages_viewed",
    "revenue_potential",
    "location_fit",
    "industry_fit",
    "decision_maker_level",
)

# Counts and money: lognormal-like, so they are log-transformed before scaling by default.
HEAVY_TAILED: tuple[str, ...] = (
    "company_size",
    "website_traffic",
    "linkedin_connections",
    "pricing_page_visits",
    "time_on_site",
    "pages_viewed",
    "revenue_potential",
)


@dataclass(frozen=True)
class Bound:
    """Closed range a feature must lie in; `integer` features take whole values only."""

    low: float
    high: float
    integer: bool = False
    kind: str = "count"


BOUNDS: dict[str, Bound] = {
    "engagement_score": Bound(0, 100, kind="score 0-100"),
    "company_size": Bound(0, 10_000_000),
    "website_traffic": Bound(0, 1e11),
    "email_open_rate": Bound(0, 1, kind="rate 0-1"),
    "linkedin_connections": Bound(0, 1e9),
    "pricing_page_visits": Bound(0, 1e7),
    "time_on_site": Bound(0, 1e7, kind="minutes"),
    "pages_viewed": Bound(0, 1e8),
    "revenue_potential": Bound(0, 1e13, kind="money"),
    "location_fit": Bound(0, 1, kind="rate 0-1"),
    "industry_fit": Bound(0, 1, kind="rate 0-1"),
    "decision_maker_level": Bound(1, 5, integer=True, kind="level 1-5"),
}


@dataclass(frozen=True)
class Violation:
    """One bad value: its 0-based row, its column name, the value and why it is refused."""

    row: int
    column: str
    value: float
    reason: str


def find_violations(X: np.ndarray, features: tuple[str, ...] = FEATURES) -> list[Violation]:
    """Every out-of-bounds, non-finite or non-integer value, row by row.

    Examples:
        >>> import numpy as np
        >>> X = np.array([[50, 10, 100, 0.2, 5, 1, 3, 4, 1000, 0.5, 0.5, 3]], dtype=float)
        >>> find_violations(X)
        []
        >>> X[0, 3] = 1.5
        >>> find_violations(X)[0].reason
        'email_open_rate must be a rate 0-1 in [0, 1], got 1.5'
    """
    found: list[Violation] = []
    for j, name in enumerate(features):
        bound = BOUNDS[name]
        col = X[:, j]
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(col) | (col < bound.low) | (col > bound.high)
            if bound.integer:
                bad |= np.isfinite(col) & (col != np.round(col))
        for i in np.flatnonzero(bad):
            found.append(Violation(int(i), name, float(col[i]), _reason(name, bound, float(col[i]))))
    found.sort(key=lambda v: (v.row, features.index(v.column)))
    return found


def check_matrix(X: np.ndarray, features: tuple[str, ...] = FEATURES) -> np.ndarray:
    """Return `X` as a float64 matrix, or raise `InvalidLeadsError` naming the first bad value."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(features):
        raise InvalidLeadsError(f"expected a matrix with {len(features)} feature columns, got shape {X.shape}")
    if X.shape[0] == 0:
        raise InvalidLeadsError("no leads to work on")
    bad = find_violations(X, features)
    if bad:
        first = bad[0]
        raise InvalidLeadsError(f"row {first.row}: {first.reason}")
    return X


def _reason(name: str, bound: Bound, value: float) -> str:
    if not np.isfinite(value):
        return f"{name} must be a finite number, got {value}"
    if bound.integer and value == round(value):
        return f"{name} must be a whole {bound.kind} in [{bound.low:g}, {bound.high:g}], got {value:g}"
    if bound.integer:
        return f"{name} must be a whole {bound.kind}, got {value:g}"
    return f"{name} must be a {bound.kind} in [{bound.low:g}, {bound.high:g}], got {value:g}"
