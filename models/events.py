"""Events on the wire: `LeadEvent` and `OutcomeEvent` in, `SegmentAssigned` and `SegmentTransition` out,
`DeadLetter` headers for bad input."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.strategies import Strategy
from segmentation.features import BOUNDS, FEATURES

__all__ = [
    "Arm",
    "ERROR_CLASSES",
    "MAX_LEAD_ID_LENGTH",
    "MAX_REASON_LENGTH",
    "TRANSITION_REASONS",
    "DeadLetter",
    "LeadEvent",
    "OutcomeEvent",
    "SegmentAssigned",
    "SegmentTransition",
]

MAX_LEAD_ID_LENGTH = 128
MAX_REASON_LENGTH = 1000
TRANSITION_REASONS = ("lead_changed", "segment_split", "segment_merged", "segment_retired")
# Why a lead message was dead-lettered: every class a dead letter (and its metric's label) can have.
ERROR_CLASSES = ("not_utf8", "not_json", "invalid", "oversize", "internal", "undeliverable")


def _feature(name: str) -> Any:
    bound = BOUNDS[name]
    return Field(ge=bound.low, le=bound.high, description=f"{name}: {bound.kind}")


class LeadEvent(BaseModel):
    """A lead as CRM or web tracking sends it. Unknown fields are ignored; values are bounded."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True, allow_inf_nan=False, str_max_length=256)

    lead_id: str = Field(min_length=1, max_length=MAX_LEAD_ID_LENGTH)
    occurred_at: datetime | None = None
    engagement_score: float = _feature("engagement_score")
    company_size: float = _feature("company_size")
    website_traffic: float = _feature("website_traffic")
    email_open_rate: float = _feature("email_open_rate")
    linkedin_connections: float = _feature("linkedin_connections")
    pricing_page_visits: float = _feature("pricing_page_visits")
    time_on_site: float = _feature("time_on_site")
    pages_viewed: float = _feature("pages_viewed")
    revenue_potential: float = _feature("revenue_potential")
    location_fit: float = _feature("location_fit")
    industry_fit: float = _feature("industry_fit")
    decision_maker_level: int = _feature("decision_maker_level")

    @classmethod
    def from_row(cls, lead_id: str, row: Sequence[float]) -> "LeadEvent":
        """A lead from its 12 feature values in `FEATURES` order."""
        values: dict[str, Any] = dict(zip(FEATURES, (float(v) for v in row), strict=True))
        values["decision_maker_level"] = int(values["decision_maker_level"])
        return cls.model_validate({"lead_id": lead_id} | values, strict=False)


class OutcomeEvent(BaseModel):
    """What became of a lead, as a CRM sends it (topic `lead-outcomes`, key `lead_id`): a deal won (with its
    amount) or lost, or reopened (its earlier result retracted until a new one comes). Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True, allow_inf_nan=False, str_max_length=256)

    outcome_id: str = Field(
        min_length=1, max_length=MAX_LEAD_ID_LENGTH, description="The CRM's event id: a redelivery counts once"
    )
    lead_id: str = Field(min_length=1, max_length=MAX_LEAD_ID_LENGTH)
    outcome: Literal["won", "lost", "reopened"]
    amount: float | None = Field(default=None, ge=0, description="The deal's amount: required for won")
    currency: str | None = Field(default=None, max_length=8, description="Recorded, never converted")
    occurred_at: datetime | None = Field(
        default=None, description="When the CRM closed or reopened the deal; the record's timestamp when absent"
    )

    @model_validator(mode="after")
    def _won_has_an_amount(self) -> "OutcomeEvent":
        if self.outcome == "won" and self.amount is None:
            raise ValueError("a won outcome needs its amount")
        return self


# The experiment's arms: a lead keeps its arm forever (a stable hash of its id, `segmentation.holdout`).
Arm = Literal["segmented", "holdout"]


class SegmentAssigned(BaseModel):
    """The segment a lead was routed to, why, and what to do with it."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(description="Deterministic per input message and model version: de-duplicate on it")
    lead_id: str
    segment_id: int
    segment_name: str
    strategy: Strategy = Field(description="What to do with the lead: the baseline campaign for the holdout arm")
    arm: Arm = Field(
        default="segmented", description="holdout: a randomized control lead, told to get the baseline campaign"
    )
    model_version: int
    distance: float
    confidence: float = Field(ge=0, le=1)
    top_features: list[str]
    is_outlier: bool
    previous_segment_id: int | None
    occurred_at: datetime | None
    assigned_at: datetime


class SegmentTransition(BaseModel):
    """A lead that moved to another segment (topic `lead-segment-transitions`), and why: its own features
    (`lead_changed`), or its segment split, merged into another or retired by a refit. A lead whose segment kept
    its identity across a refit, and which its features keep in it, has none."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(description="Deterministic per input message and model version: de-duplicate on it")
    lead_id: str
    from_segment_id: int
    from_segment_name: str | None = Field(description="None when no model this worker knows names the segment")
    to_segment_id: int
    to_segment_name: str
    from_model_version: int | None = Field(
        description="The version that last served the from segment: the current one while it still serves it, "
        "else the one the current model's lineage retired it from; None when unknown"
    )
    to_model_version: int
    reason: Literal["lead_changed", "segment_split", "segment_merged", "segment_retired"]
    occurred_at: datetime | None


class DeadLetter(BaseModel):
    """Headers of a `leads-dlq` message; its value is the original bytes, unchanged."""

    model_config = ConfigDict(frozen=True)

    source_topic: str
    source_partition: int
    source_offset: int
    error_class: str = Field(description=", ".join(ERROR_CLASSES))
    reason: str = Field(max_length=MAX_REASON_LENGTH)
    model_version: int | None

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers, each value UTF-8 text."""
        return [(key, str(value).encode()) for key, value in self.model_dump().items() if value is not None]
