"""What the measured impact rests on: per model version × segment × arm, how many leads were exposed and how their
outcomes stand (issue 19). The streaming side counts them in Redis, the offline side from CSV files; both hand
them to the same statistics."""

from dataclasses import dataclass
from typing import Literal

__all__ = ["Cell"]


@dataclass(frozen=True)
class Cell:
    """One model version × segment × arm. `lost` includes the leads whose attribution window closed with no result;
    `open` leads are still inside it and left out of every rate. `revenue` and `revenue_sq` are the sum and the sum of
    squares of the won amounts: enough for the deal size's and the revenue per lead's intervals."""

    model_version: int
    segment_id: int
    segment_name: str
    arm: Literal["segmented", "holdout"]
    assumed_close_rate: float  # of the strategy as emitted to the lead (the baseline's for the holdout arm)
    assumed_avg_deal_size: float
    exposed: int
    won: int
    lost: int
    open: int
    revenue: float
    revenue_sq: float

    @property
    def matured(self) -> int:
        return self.won + self.lost
