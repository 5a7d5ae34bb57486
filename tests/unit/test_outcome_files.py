"""The offline tallies: which result a lead ends with, whatever order and repetition the CRM export has."""

import pytest

from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from segmenter.exceptions import InputFileError
from segmenter.outcome_files import Exposure, Outcome, tally


@pytest.fixture(scope="module")
def snapshot() -> ModelSnapshot:
    return fit_model(generate_leads(300, random_state=0).X, config=StrategyConfig(), k=3, version=4)[1]


def counts(snapshot: ModelSnapshot, outcomes: list[Outcome], window_closed: bool = False) -> tuple[int, ...]:
    seen = {"a": Exposure(snapshot.segments[0].id, "segmented")}
    (cell,) = tally(snapshot, seen, outcomes, window_closed=window_closed).cells
    return cell.won, cell.lost, cell.open, int(cell.revenue)


def test_the_last_result_stands_and_reopened_retracts_it_until_a_new_one(snapshot: ModelSnapshot) -> None:
    won, lost, reopened = (
        Outcome("1", "a", "won", 500.0),
        Outcome("2", "a", "lost", 0.0),
        Outcome("3", "a", "reopened", 0),
    )
    assert counts(snapshot, [won]) == (1, 0, 0, 500)
    assert counts(snapshot, [won, reopened]) == (0, 0, 1, 0)
    assert counts(snapshot, [won, reopened], window_closed=True) == (0, 1, 0, 0)
    assert counts(snapshot, [won, reopened, lost]) == (0, 1, 0, 0)
    assert counts(snapshot, [lost, Outcome("4", "a", "won", 70.0)]) == (1, 0, 0, 70)
    assert counts(snapshot, [won, reopened, won]) == (0, 0, 1, 0)  # the same won redelivered: counted once, retracted


def test_each_arm_gets_its_own_cell_with_the_assumed_rates_it_was_sent(snapshot: ModelSnapshot) -> None:
    segment = snapshot.segments[1]
    seen = {"a": Exposure(segment.id, "segmented"), "b": Exposure(segment.id, "holdout")}
    cells = tally(snapshot, seen, [Outcome("1", "zz", "won", 5.0)], window_closed=False)
    assert [(c.arm, c.assumed_close_rate, c.open) for c in cells.cells] == [
        ("segmented", segment.strategy.expected_close_rate, 1),
        ("holdout", snapshot.baseline.conversion_rate, 1),
    ]
    assert cells.unattributed == 1 and {c.model_version for c in cells.cells} == {4}


def test_a_segment_the_model_does_not_have_is_refused(snapshot: ModelSnapshot) -> None:
    with pytest.raises(InputFileError, match="segment 99 of the assigned file is not one of model 4's"):
        tally(snapshot, {"a": Exposure(99, "segmented")}, [], window_closed=False)
