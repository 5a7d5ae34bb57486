"""A refit is judged before it serves: the same leads pass, noise is refused with reasons, and a sixth group of
leads is found with K chosen again."""

import pytest

from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model, refit_model
from segmentation.synthetic import generate_leads
from tests.populations import noise, with_a_sixth_group


@pytest.fixture(scope="module")
def served() -> ModelSnapshot:
    return fit_model(generate_leads(4000, random_state=1).X, config=StrategyConfig(), version=1)[1]


def test_a_refit_on_the_same_kind_of_leads_is_promoted_with_its_scores(served: ModelSnapshot) -> None:
    candidate, verdict = refit_model(generate_leads(6000, random_state=2).X, served, version=2, k=None)
    assert verdict.promote and candidate.gate is not None and candidate.gate.decision == "promoted"
    assert len(candidate.segments) == 5 and sorted(candidate.segment_ids) == sorted(served.segment_ids)
    assert verdict.moved_share < 0.05
    assert candidate.gate.served_version == 1 and candidate.gate.held_out == 1200


def test_a_refit_on_noise_is_rejected_and_says_why(served: ModelSnapshot) -> None:
    candidate, verdict = refit_model(noise(6000, seed=3), served, version=2, k=None)
    assert not verdict.promote and candidate.gate is not None and candidate.gate.decision == "rejected"
    assert any("would move" in reason for reason in verdict.reasons), verdict.reasons
    assert set(candidate.gate.candidate) == {"inertia_per_lead", "silhouette", "min_share", "stability"}


def test_k_chosen_again_finds_a_new_group_and_passes_the_gate(served: ModelSnapshot) -> None:
    candidate, verdict = refit_model(with_a_sixth_group(6000, 4), served, version=2, k=None)
    assert verdict.promote, verdict.reasons
    assert len(candidate.segments) == 6
    assert set(served.segment_ids) < set(candidate.segment_ids)  # the five keep their ids, the new one is fresh


def test_a_k_set_by_the_operator_is_kept(served: ModelSnapshot) -> None:
    candidate, _ = refit_model(generate_leads(3000, random_state=5).X, served, version=2, k=4)
    assert len(candidate.segments) == 4
