"""The refit's pure parts: the lead sample, control messages, and refitting a served model."""

import numpy as np
import pytest

from models.control import parse_command
from models.strategies import StrategyConfig
from models.training import fit_model, refit_model
from segmentation.features import FEATURES
from segmentation.synthetic import generate_leads
from streams.refit import LeadSample


def test_the_sample_keeps_everything_until_full_then_stays_at_capacity() -> None:
    sample = LeadSample(capacity=1000)
    sample.add(np.ones((600, len(FEATURES))))
    assert len(sample) == 600
    sample.add(np.ones((3000, len(FEATURES))))
    assert len(sample) == 1000 and sample.rows().shape == (1000, len(FEATURES))


def test_the_sample_is_uniform_over_everything_added() -> None:
    sample = LeadSample(capacity=2000, seed=1)
    for batch in range(20):  # 20 batches of 1000 rows; column 0 holds the batch number
        sample.add(np.full((1000, len(FEATURES)), float(batch)))
    counts = np.bincount(sample.rows()[:, 0].astype(int), minlength=20)
    assert counts.min() > 50 and counts.max() < 150  # 100 expected from each batch


@pytest.mark.parametrize(
    ("value", "problem"),
    [(b"not json", "not a control message"), (b'{"command": "drop"}', "unknown command"), (None, "not a control")],
)
def test_bad_control_messages_are_refused_with_a_reason(value: bytes | None, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_command(value)


def test_a_refit_command_is_understood() -> None:
    assert parse_command(b'{"command": "refit"}').command == "refit"


def test_a_refit_keeps_k_ids_strategies_and_moves_the_version_forward() -> None:
    leads = generate_leads(4000, random_state=0)
    served = fit_model(leads.X[:2000], config=StrategyConfig(), k=5, version=10)[1]
    custom = served.segments[0].strategy.model_copy(update={"channel": "Custom channel"})
    served = served.model_copy(
        update={"segments": [served.segments[0].model_copy(update={"strategy": custom}), *served.segments[1:]]}
    )
    refitted, _ = refit_model(leads.X[2000:], served, version=11, k=5)
    assert refitted.version == 11 and len(refitted.segments) == 5
    assert sorted(refitted.segment_ids) == sorted(served.segment_ids)
    by_id = {s.id: s for s in refitted.segments}
    for old in served.segments:  # the same planted segments: each keeps its id and name
        assert by_id[old.id].name == old.name
    assert by_id[served.segments[0].id].strategy.channel == "Custom channel"
