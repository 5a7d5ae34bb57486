"""Readable segment names from profiles: the tutorial's five where their rules fit, else a description."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segmentation.features import FEATURES
from segmentation.profiling import SegmentProfile

__all__ = ["FEATURE_LABELS", "NAME_RULES", "NameRule", "describe", "name_segments"]

FEATURE_LABELS: dict[str, str] = {
    "engagement_score": "engagement",
    "company_size": "company size",
    "website_traffic": "web traffic",
    "email_open_rate": "email opens",
    "linkedin_connections": "LinkedIn reach",
    "pricing_page_visits": "pricing-page visits",
    "time_on_site": "time on site",
    "pages_viewed": "pages viewed",
    "revenue_potential": "revenue potential",
    "location_fit": "location fit",
    "industry_fit": "industry fit",
    "decision_maker_level": "seniority",
}

# A rule fits when every `high` feature has z >= MARGIN, every `low` one z <= -MARGIN and every
# `middle` one |z| < MIDDLE; a fitting rule's score says how clearly it fits.
MARGIN = 0.25
MIDDLE = 0.75


@dataclass(frozen=True)
class NameRule:
    name: str
    high: tuple[str, ...] = ()
    low: tuple[str, ...] = ()
    middle: tuple[str, ...] = ()

    def score(self, z: dict[str, float]) -> float | None:
        """How clearly a segment with these z-scores fits; None when it does not."""
        signed = [z[f] for f in self.high] + [-z[f] for f in self.low]
        if any(v < MARGIN for v in signed) or any(abs(z[f]) >= MIDDLE for f in self.middle):
            return None
        return float(np.mean(signed + [MIDDLE - abs(z[f]) for f in self.middle]))


NAME_RULES: tuple[NameRule, ...] = (
    NameRule("High-Value Enterprise", high=("company_size", "revenue_potential", "engagement_score")),
    NameRule("SMB Quick Closers", high=("engagement_score", "pricing_page_visits"), low=("company_size",)),
    NameRule("Tire Kickers", low=("engagement_score", "company_size", "revenue_potential")),
    NameRule("Mid-Market Nurture", middle=("company_size", "engagement_score", "revenue_potential")),
    NameRule("Churn Risk", high=("industry_fit",), low=("engagement_score", "email_open_rate")),
)


def name_segments(
    profiles: Sequence[SegmentProfile], features: Sequence[str] = FEATURES, rules: Sequence[NameRule] = NAME_RULES
) -> tuple[str, ...]:
    """One distinct name per segment. Rules are matched to segments one-to-one, best fits first
    (Hungarian matching on rule scores); a segment no rule fits gets `describe`'s name.

    Examples:
        >>> from segmentation.profiling import SegmentProfile
        >>> low = {"engagement_score": -1.5, "company_size": -1.2, "revenue_potential": -1.0}
        >>> z = dict.fromkeys(FEATURES, 0.0) | low
        >>> p = SegmentProfile(0, 10, 1.0, (), (), tuple(z[f] for f in FEATURES))
        >>> name_segments([p])
        ('Tire Kickers',)
    """
    zs = [dict(zip(features, p.z, strict=True)) for p in profiles]
    fits = np.array([[_score(rule, z) for rule in rules] for z in zs]).reshape(len(zs), len(rules))
    names = [describe(z) for z in zs]
    if fits.size:
        # Imported here, not at the top: a worker that only assigns never loads SciPy.
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(np.nan_to_num(fits, nan=-1e9), maximize=True)
        for row, col in zip(rows, cols, strict=True):
            if not np.isnan(fits[row, col]):
                names[row] = rules[col].name
    return _distinct(names)


def describe(z: dict[str, float], top: int = 2) -> str:
    """Name a segment by its most distinctive features, e.g. "High pricing-page visits, low company size".

    Examples:
        >>> describe({"pricing_page_visits": 1.4, "company_size": -0.9, "engagement_score": 0.1})
        'High pricing-page visits, low company size'
    """
    finite = {f: v for f, v in z.items() if np.isfinite(v)}
    if not finite:
        return "Empty segment"
    strongest = sorted(finite, key=lambda f: -abs(finite[f]))[:top]
    words = [f"{'high' if finite[f] > 0 else 'low'} {FEATURE_LABELS.get(f, f)}" for f in strongest]
    text = ", ".join(words)
    return text[0].upper() + text[1:]


def _score(rule: NameRule, z: dict[str, float]) -> float:
    if not all(np.isfinite(v) for v in z.values()):
        return float("nan")
    score = rule.score(z)
    return float("nan") if score is None else score


def _distinct(names: list[str]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return tuple(result)
