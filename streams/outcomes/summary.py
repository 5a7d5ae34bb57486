"""What the worker says of measured impact without the statistics: the `status` reply's summary and the observed
close rates `/metrics` serves, both for the served model version, from the tallies in Redis."""

from collections import Counter

from models.control import ImpactSummary
from streams.outcomes.attribution import Tallies

__all__ = ["close_rates", "summary_of"]

ARMS = ("segmented", "holdout")


def summary_of(tallies: Tallies, version: int) -> ImpactSummary | None:
    """Per arm, the leads of `version` by what became of them; None when it has no tallies."""
    cells = [cell for cell in tallies.cells if cell.model_version == version]
    if not cells:
        return None
    exposed, won, lost, open_ = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    for cell in cells:
        exposed[cell.arm] += cell.exposed
        won[cell.arm] += cell.won
        lost[cell.arm] += cell.lost
        open_[cell.arm] += cell.open
    return ImpactSummary(
        model_version=version,
        exposed={arm: exposed[arm] for arm in ARMS},
        won={arm: won[arm] for arm in ARMS},
        lost={arm: lost[arm] for arm in ARMS},
        open={arm: open_[arm] for arm in ARMS},
        close_rate={arm: won[arm] / (won[arm] + lost[arm]) if won[arm] + lost[arm] else None for arm in ARMS},
        unattributed=tallies.unattributed + tallies.after_window,
    )


def close_rates(tallies: Tallies, version: int) -> dict[tuple[int, str], float]:
    """Won / matured per (segment id, arm) of `version`; NaN where none matured."""
    return {
        (cell.segment_id, cell.arm): cell.won / cell.matured if cell.matured else float("nan")
        for cell in tallies.cells
        if cell.model_version == version
    }
