"""Campaign strategies per segment name, the one-campaign baseline, and name overrides (TOML)."""

import tomllib
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from models.exceptions import ConfigError
from segmentation.impact import BASELINE_CONVERSION, BASELINE_DEAL_SIZE

__all__ = [
    "ASSUMED_BASIS",
    "DEFAULT_STRATEGIES",
    "FALLBACK_STRATEGY",
    "Baseline",
    "Calibration",
    "Strategy",
    "StrategyConfig",
    "strategies_basis",
]


def _number(text: Any) -> Any:
    """Accept "45%" as 0.45 and "$50,000" as 50000, the way the tutorial writes them."""
    if not isinstance(text, str):
        return text
    cleaned = text.strip().replace(",", "").replace("$", "")
    if cleaned.endswith("%"):
        return float(cleaned[:-1]) / 100
    return float(cleaned)


# Said wherever a revenue or a lift is computed from a strategies table that no outcome has calibrated.
ASSUMED_BASIS = "expected, from the strategy table's assumed close rates and deal sizes"

Rate = Annotated[float, BeforeValidator(_number), Field(ge=0, le=1, allow_inf_nan=False)]
Money = Annotated[float, BeforeValidator(_number), Field(ge=0, le=1e12, allow_inf_nan=False)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class Strategy(BaseModel):
    """How to work a segment, and what it is expected to bring."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Text
    message: Text
    sales_resource: Text
    expected_close_rate: Rate
    avg_deal_size: Money


DEFAULT_STRATEGIES: dict[str, Strategy] = {
    "High-Value Enterprise": Strategy(
        channel="Personal outreach",
        message="Premium features, ROI case studies",
        sales_resource="Senior Account Executive",
        expected_close_rate=0.45,
        avg_deal_size=50_000,
    ),
    "SMB Quick Closers": Strategy(
        channel="Email + Demo",
        message="Easy setup, quick wins",
        sales_resource="Inside Sales Rep",
        expected_close_rate=0.62,
        avg_deal_size=5_000,
    ),
    "Tire Kickers": Strategy(
        channel="Automated drip",
        message="Educational content",
        sales_resource="None (automated)",
        expected_close_rate=0.08,
        avg_deal_size=500,
    ),
    "Mid-Market Nurture": Strategy(
        channel="Multi-touch",
        message="Industry-specific solutions",
        sales_resource="Account Executive",
        expected_close_rate=0.34,
        avg_deal_size=15_000,
    ),
    "Churn Risk": Strategy(
        channel="Personal call",
        message="Save the relationship",
        sales_resource="Customer Success Manager",
        expected_close_rate=0.28,
        avg_deal_size=12_000,
    ),
}

# For a segment no rule or config names: the baseline campaign, so it neither adds nor removes lift.
FALLBACK_STRATEGY = Strategy(
    channel="Standard nurture",
    message="General value proposition",
    sales_resource="Inside Sales Rep",
    expected_close_rate=BASELINE_CONVERSION,
    avg_deal_size=BASELINE_DEAL_SIZE,
)


class Baseline(BaseModel):
    """One campaign for all leads: what segmentation is measured against, and what the holdout's leads are told to
    get. Its close rate may be written `conversion_rate` (the older files) or `expected_close_rate`, as a
    strategy's; what it leaves out is the fallback strategy's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Left out of a model file when they are the fallback's, so that a worker from before them still reads it.
    channel: Text = Field(default=FALLBACK_STRATEGY.channel, exclude_if=lambda v: v == FALLBACK_STRATEGY.channel)
    message: Text = Field(default=FALLBACK_STRATEGY.message, exclude_if=lambda v: v == FALLBACK_STRATEGY.message)
    sales_resource: Text = Field(
        default=FALLBACK_STRATEGY.sales_resource, exclude_if=lambda v: v == FALLBACK_STRATEGY.sales_resource
    )
    conversion_rate: Rate = Field(
        default=BASELINE_CONVERSION, validation_alias=AliasChoices("conversion_rate", "expected_close_rate")
    )
    avg_deal_size: Money = BASELINE_DEAL_SIZE

    @property
    def strategy(self) -> Strategy:
        """The baseline campaign as a strategy, as a holdout lead's `SegmentAssigned` carries it."""
        return Strategy(
            channel=self.channel,
            message=self.message,
            sales_resource=self.sales_resource,
            expected_close_rate=self.conversion_rate,
            avg_deal_size=self.avg_deal_size,
        )


class Calibration(BaseModel):
    """What a calibrated strategies file's rates rest on (`segmenter impact --write-strategies`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    matured_leads: int = Field(ge=0, description="Leads with a result the rates were measured on")
    prior_leads: float = Field(ge=0, description="What the assumed rates weighed, in leads")


def strategies_basis(calibration: Calibration | None) -> str:
    """What revenue figures computed from strategies rest on, said wherever they are shown.

    Examples:
        >>> strategies_basis(None)
        "expected, from the strategy table's assumed close rates and deal sizes"
    """
    if calibration is None:
        return ASSUMED_BASIS
    return (
        f"expected, from close rates and deal sizes calibrated on {calibration.matured_leads:,} matured leads' "
        f"outcomes, the assumed ones weighing {calibration.prior_leads:g} leads"
    )


class StrategyConfig(BaseModel):
    """A strategies file: `[strategies."Name"]` tables, `[names]` mapping segment id to a new
    name, `[baseline]`, and `[calibration]` when its rates were measured. Anything it leaves out falls back to
    the tutorial's table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategies: dict[Text, Strategy] = {}
    names: dict[int, Text] = {}
    baseline: Baseline = Baseline()
    fallback: Strategy = FALLBACK_STRATEGY
    calibration: Calibration | None = None

    @classmethod
    def from_toml(cls, text: str) -> "StrategyConfig":
        """Parse and validate TOML text; errors name the offending key."""
        try:
            return cls.model_validate(tomllib.loads(text))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"strategies file is not valid TOML: {error}") from error
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ConfigError(f"strategies file: {where}: {first['msg']}") from error

    def name_for(self, segment_id: int, derived: str) -> str:
        return self.names.get(segment_id, derived)

    def strategy_for(self, name: str) -> Strategy:
        return self.strategies.get(name) or DEFAULT_STRATEGIES.get(name) or self.fallback
