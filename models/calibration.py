"""A strategies file whose close rates and deal sizes are the measured ones, shrunk toward the assumed: the next
`fit`'s expected revenue then rests on outcomes rather than on the tutorial's table."""

import json
from collections.abc import Iterable

from models.snapshot import ModelSnapshot
from models.strategies import Baseline, Calibration, Strategy, StrategyConfig
from segmentation.outcome_stats import calibrated
from segmentation.tallies import Cell

__all__ = ["PRIOR_LEADS", "calibrated_config", "strategies_toml"]

# What the assumed close rate weighs against the measured one, in leads (a Beta prior worth this many leads); the
# assumed deal size weighs the deals those leads would close at the assumed rate.
PRIOR_LEADS = 100.0


def _moved(strategy: Strategy, cells: list[Cell], prior_leads: float) -> Strategy:
    won, matured, revenue = (sum(getattr(c, f) for c in cells) for f in ("won", "matured", "revenue"))
    rate = strategy.expected_close_rate
    return strategy.model_copy(
        update={
            "expected_close_rate": calibrated(rate, won, matured, prior_leads),
            "avg_deal_size": calibrated(strategy.avg_deal_size, revenue, won, prior_leads * rate),
        }
    )


def calibrated_config(
    snapshot: ModelSnapshot, cells: Iterable[Cell], prior_leads: float = PRIOR_LEADS
) -> StrategyConfig:
    """Each segment's strategy moved by its segmented arm's outcomes, the baseline by the holdout's.

    Examples:
        >>> from models.strategies import StrategyConfig
        >>> from models.training import fit_model
        >>> from segmentation.synthetic import generate_leads
        >>> snapshot = fit_model(generate_leads(300, random_state=0).X, config=StrategyConfig(), k=3, version=2)[1]
        >>> s = snapshot.segments[0]
        >>> cell = Cell(2, s.id, s.name, "segmented", 0.5, 1000.0, 100, 10, 90, 0, 20_000.0, 4.0e7)
        >>> moved = calibrated_config(snapshot, [cell], prior_leads=100).strategies[s.name]
        >>> s.strategy.expected_close_rate, moved.expected_close_rate
        (0.45, 0.275)
    """
    chosen = list(cells)
    strategies = {
        s.name: _moved(s.strategy, [c for c in chosen if c.segment_id == s.id and c.arm == "segmented"], prior_leads)
        for s in snapshot.segments
    }
    held = _moved(snapshot.baseline.strategy, [c for c in chosen if c.arm == "holdout"], prior_leads)
    baseline = Baseline.model_validate(held.model_dump())  # a strategy's fields are a full baseline's
    calibration = Calibration(matured_leads=sum(c.matured for c in chosen), prior_leads=prior_leads)
    return StrategyConfig(strategies=strategies, baseline=baseline, calibration=calibration)


def _table(name: str, values: dict[str, object]) -> str:
    return f"[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def strategies_toml(config: StrategyConfig, note: str) -> str:
    """`config` as a strategies file `StrategyConfig.from_toml` reads back, opening with `note` as a comment."""
    parts = ["".join(f"# {line}\n" for line in note.splitlines())]
    parts.append(_table("calibration", config.calibration.model_dump() if config.calibration else {}))
    parts.append(_table("baseline", config.baseline.model_dump()))
    parts += [_table(f"strategies.{json.dumps(name)}", s.model_dump()) for name, s in config.strategies.items()]
    return "\n".join(parts)
