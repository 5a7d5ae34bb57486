"""Business impact: one campaign for everyone against a campaign per segment."""

from collections.abc import Sequence
from dataclasses import dataclass

from segmentation.exceptions import InvalidParameterError

__all__ = ["BASELINE_CONVERSION", "BASELINE_DEAL_SIZE", "Impact", "business_impact"]

# The tutorial's one-size-fits-all campaign.
BASELINE_CONVERSION = 0.23
BASELINE_DEAL_SIZE = 12_000.0


@dataclass(frozen=True)
class Impact:
    """Expected revenue of both approaches, the lift in percent, and each segment's revenue."""

    baseline_revenue: float
    segmented_revenue: float
    lift_pct: float
    per_segment: tuple[float, ...]


def business_impact(
    sizes: Sequence[int],
    close_rates: Sequence[float],
    deal_sizes: Sequence[float],
    *,
    baseline_conversion: float = BASELINE_CONVERSION,
    baseline_deal_size: float = BASELINE_DEAL_SIZE,
) -> Impact:
    """Revenue = leads × close rate × deal size, per segment and for the baseline.

    Examples:
        >>> impact = business_impact([100, 100], [0.5, 0.1], [1000, 100])
        >>> impact.segmented_revenue, impact.baseline_revenue
        (51000.0, 552000.0)
    """
    if not len(sizes) == len(close_rates) == len(deal_sizes):
        raise InvalidParameterError("sizes, close_rates and deal_sizes must have one entry per segment")
    per_segment = tuple(float(n * r * d) for n, r, d in zip(sizes, close_rates, deal_sizes, strict=True))
    baseline = float(sum(sizes) * baseline_conversion * baseline_deal_size)
    segmented = sum(per_segment)
    lift = (segmented - baseline) / baseline * 100 if baseline else float("nan")
    return Impact(baseline, segmented, lift, per_segment)
