"""Seeded synthetic leads with five planted segments, heavy-tailed like real CRM data."""

from dataclasses import dataclass

import numpy as np

from segmentation.exceptions import InvalidParameterError
from segmentation.features import FEATURES

__all__ = ["PLANTED_SEGMENTS", "PlantedGroup", "SyntheticLeads", "generate_groups", "generate_leads"]


@dataclass(frozen=True)
class PlantedGroup:
    """One planted group: its name, share of leads and each feature's distribution parameters."""

    name: str
    share: float
    engagement: tuple[float, float]  # mean, sd (clipped to 0-100)
    company_size: float  # lognormal median
    website_traffic: float
    email_open_rate: tuple[float, float]  # beta a, b
    linkedin_connections: float
    pricing_page_visits: float  # negative-binomial mean
    time_on_site: float  # gamma mean, minutes
    pages_viewed: float  # negative-binomial mean
    revenue_potential: float  # lognormal median, dollars
    location_fit: tuple[float, float]  # beta a, b
    industry_fit: tuple[float, float]
    decision_maker: tuple[float, ...]  # probabilities of levels 1..5


# The tutorial's five segments. Tire kickers lie far from the rest on the log scale, which is
# what makes silhouette alone prefer too few segments on such data.
PLANTED_SEGMENTS: tuple[PlantedGroup, ...] = (
    PlantedGroup(
        "High-Value Enterprise",
        0.17,
        (82, 8),
        1500,
        60_000,
        (9, 11),
        2500,
        5,
        14,
        16,
        60_000,
        (8, 2),
        (9, 2),
        (0.02, 0.05, 0.18, 0.40, 0.35),
    ),
    PlantedGroup(
        "SMB Quick Closers",
        0.25,
        (76, 8),
        25,
        3_000,
        (12, 8),
        350,
        8,
        8,
        10,
        5_000,
        (6, 3),
        (6, 3),
        (0.03, 0.07, 0.15, 0.35, 0.40),
    ),
    PlantedGroup(
        "Tire Kickers",
        0.18,
        (22, 9),
        2,
        90,
        (2, 18),
        25,
        0.3,
        1.2,
        2,
        300,
        (2, 5),
        (2, 6),
        (0.55, 0.30, 0.10, 0.04, 0.01),
    ),
    PlantedGroup(
        "Mid-Market Nurture",
        0.29,
        (58, 9),
        150,
        12_000,
        (7, 11),
        800,
        3,
        5,
        7,
        15_000,
        (5, 4),
        (5, 4),
        (0.10, 0.30, 0.35, 0.18, 0.07),
    ),
    PlantedGroup(
        "Churn Risk",
        0.11,
        (30, 8),
        400,
        7_000,
        (2, 14),
        1100,
        0.5,
        2.0,
        3,
        12_000,
        (8, 3),
        (9, 2),
        (0.05, 0.15, 0.40, 0.30, 0.10),
    ),
)


@dataclass(frozen=True)
class SyntheticLeads:
    """Generated leads: `X` in `FEATURES` order, and each row's planted segment index."""

    X: np.ndarray
    true_segment: np.ndarray
    segment_names: tuple[str, ...]


def generate_leads(n: int, *, random_state: int = 0) -> SyntheticLeads:
    """Draw `n` leads from the five planted segments; the same seed gives the same leads.

    Examples:
        >>> leads = generate_leads(1000, random_state=7)
        >>> leads.X.shape, sorted(set(leads.true_segment.tolist()))
        ((1000, 12), [0, 1, 2, 3, 4])
        >>> bool((generate_leads(1000, random_state=7).X == leads.X).all())
        True
    """
    return generate_groups(PLANTED_SEGMENTS, n, random_state=random_state)


def generate_groups(groups: tuple[PlantedGroup, ...], n: int, *, random_state: int = 0) -> SyntheticLeads:
    """Draw `n` leads from `groups` in proportion to their shares; `true_segment` indexes `groups`.

    Examples:
        >>> leads = generate_groups(PLANTED_SEGMENTS[:2], 500, random_state=3)
        >>> leads.segment_names, sorted(set(leads.true_segment.tolist()))
        (('High-Value Enterprise', 'SMB Quick Closers'), [0, 1])
    """
    if n < 1:
        raise InvalidParameterError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(random_state)
    shares = np.array([p.share for p in groups])
    truth = rng.choice(len(groups), size=n, p=shares / shares.sum())
    X = np.empty((n, len(FEATURES)))
    for index, planted in enumerate(groups):
        rows = np.flatnonzero(truth == index)
        X[rows] = _draw(planted, rows.size, rng)
    return SyntheticLeads(X, truth, tuple(p.name for p in groups))


def _draw(p: PlantedGroup, m: int, rng: np.random.Generator) -> np.ndarray:
    def lognormal(median: float, sigma: float = 0.6) -> np.ndarray:
        return np.maximum(1.0, np.round(rng.lognormal(np.log(median), sigma, m)))

    def counts(mean: float) -> np.ndarray:
        # Negative binomial (dispersion 2): overdispersed like real visit counts.
        return rng.negative_binomial(2, 2 / (2 + mean), m).astype(float)

    columns = {
        "engagement_score": np.clip(rng.normal(*p.engagement, m), 0, 100).round(1),
        "company_size": lognormal(p.company_size),
        "website_traffic": lognormal(p.website_traffic, 0.8),
        "email_open_rate": rng.beta(*p.email_open_rate, m).round(3),
        "linkedin_connections": lognormal(p.linkedin_connections, 0.7),
        "pricing_page_visits": counts(p.pricing_page_visits),
        "time_on_site": rng.gamma(4, p.time_on_site / 4, m).round(2),
        "pages_viewed": counts(p.pages_viewed),
        "revenue_potential": np.round(rng.lognormal(np.log(p.revenue_potential), 0.5, m), 2),
        "location_fit": rng.beta(*p.location_fit, m).round(3),
        "industry_fit": rng.beta(*p.industry_fit, m).round(3),
        "decision_maker_level": rng.choice(np.arange(1, 6), size=m, p=p.decision_maker).astype(float),
    }
    return np.column_stack([columns[name] for name in FEATURES])
