"""A refit is judged before it serves: the same leads pass, noise is refused with reasons, and a sixth group of
leads is found with K chosen again. Its lineage: kept segments keep id, name and strategy; new, retired and split
ones are named as such, and an id is never used twice."""

import numpy as np
import pytest

from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model, refit_model
from segmentation.features import FEATURES
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


def test_a_refit_depends_on_the_leads_not_their_order(served: ModelSnapshot) -> None:
    X = generate_leads(3000, random_state=6).X
    shuffled = X[np.random.default_rng(7).permutation(len(X))]
    first, second = (refit_model(rows, served, version=2, k=None)[0] for rows in (X, shuffled))
    assert first.gate == second.gate and first.segments == second.segments


def test_a_refit_on_noise_is_rejected_and_says_why(served: ModelSnapshot) -> None:
    candidate, verdict = refit_model(noise(6000, seed=3), served, version=2, k=None)
    assert not verdict.promote and candidate.gate is not None and candidate.gate.decision == "rejected"
    # every served segment's group is gone (its leads are outside its reach), so the moves are explained; what
    # refuses noise is that its segments are not reproducible
    assert any("not reproducible" in reason for reason in verdict.reasons), verdict.reasons
    assert set(candidate.gate.candidate) == {"inertia_per_lead", "silhouette", "min_share", "stability"}


def test_k_chosen_again_finds_a_new_group_and_passes_the_gate(served: ModelSnapshot) -> None:
    candidate, verdict = refit_model(with_a_sixth_group(6000, 4), served, version=2, k=None)
    assert verdict.promote, verdict.reasons
    assert len(candidate.segments) == 6
    assert set(served.segment_ids) < set(candidate.segment_ids)  # the five keep their ids, the new one is fresh


def test_a_k_set_by_the_operator_is_kept(served: ModelSnapshot) -> None:
    candidate, _ = refit_model(generate_leads(3000, random_state=5).X, served, version=2, k=4)
    assert len(candidate.segments) == 4


def test_the_same_kind_of_leads_keeps_every_segment_with_its_name_and_strategy(served: ModelSnapshot) -> None:
    candidate, _ = refit_model(generate_leads(6000, random_state=2).X, served, version=2, k=None)
    assert candidate.lineage is not None
    assert [(e.segment_id, e.kind, e.from_, e.into) for e in candidate.lineage] == [
        (i, "kept", [i], [i]) for i in sorted(served.segment_ids)
    ]
    by_id = {s.id: s for s in served.segments}
    assert all((s.name, s.strategy) == (by_id[s.id].name, by_id[s.id].strategy) for s in candidate.segments)


def test_a_new_group_is_new_with_a_fresh_id_its_own_name_and_the_baseline_strategy(served: ModelSnapshot) -> None:
    candidate, _ = refit_model(with_a_sixth_group(6000, 4), served, version=2, k=None)
    assert candidate.lineage is not None
    new = [e for e in candidate.lineage if e.kind != "kept"]
    assert [(e.segment_id, e.kind, e.from_, e.into) for e in new] == [(5, "new", [], [5])]
    assert candidate.segment_id_high_water == 5
    (segment,) = [s for s in candidate.segments if s.id == 5]
    assert segment.name not in {s.name for s in served.segments} and segment.name == new[0].name
    assert (segment.strategy.expected_close_rate, segment.strategy.avg_deal_size) == (
        served.baseline.conversion_rate,
        served.baseline.avg_deal_size,
    )


def test_a_vanished_group_is_retired_and_its_id_and_name_never_go_to_other_leads(served: ModelSnapshot) -> None:
    before = generate_leads(6000, random_state=3)
    vanished = int(before.true_segment.max())  # a planted group that is gone after the change
    changed = np.vstack([before.X[before.true_segment != vanished], with_a_sixth_group(6000, 5)[6000:]])
    candidate, verdict = refit_model(changed, served, version=2, k=5)
    assert candidate.lineage is not None and verdict.promote, verdict.reasons
    kinds = {e.kind: e for e in candidate.lineage if e.kind != "kept"}
    assert set(kinds) == {"retired", "new"} and kinds["new"].segment_id == 5
    retired = {s.id: s for s in served.segments}[kinds["retired"].segment_id]
    assert retired.name not in {s.name for s in candidate.segments}
    by_id = {s.id: s for s in served.segments}
    for s in candidate.segments:
        if s.id != 5:  # every surviving group keeps its id, name and strategy
            assert (s.name, s.strategy) == (by_id[s.id].name, by_id[s.id].strategy)
    back, _ = refit_model(generate_leads(6000, random_state=6).X, candidate, version=3, k=5)
    assert retired.id not in back.segment_ids  # the group that comes back is new: an id is never reused
    assert back.segment_id_high_water == 6


def test_a_group_splitting_in_two_is_a_split_with_both_new_ids(served: ModelSnapshot) -> None:
    leads = generate_leads(6000, random_state=7)
    X, group = leads.X.copy(), np.flatnonzero(leads.true_segment == 2)
    features = [FEATURES.index(f) for f in ("engagement_score", "email_open_rate")]
    features += [FEATURES.index(f) for f in ("pages_viewed", "time_on_site", "website_traffic")]
    for j, (up, down) in zip(features, [(2.0, 0.3)] * 2 + [(3.0, 0.3)] * 3, strict=True):
        X[group[: len(group) // 2], j] *= up
        X[group[len(group) // 2 :], j] *= down
    candidate, _ = refit_model(X, served, version=2, k=6)
    assert candidate.lineage is not None
    split = [(e.segment_id, e.from_, e.into) for e in candidate.lineage if e.kind == "split"]
    parent = split[0][1][0]
    assert split == [(i, [parent], [5, 6]) for i in sorted([parent, 5, 6])]
    assert sum(e.kind == "kept" for e in candidate.lineage) == 4
