"""Drift the service adapts to (issue 23): after a planted change of the population, with the refit sample holding
old and new traffic in several ratios, the refit is promoted, every surviving group keeps its id, name and strategy,
and the lineage names the change as planted (`segmentation.adaptation.problems`). A candidate that relabels
surviving groups is still refused."""

import numpy as np
import pytest

from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model, refit_model
from segmentation.adaptation import RefitOutcome, group_ids, problems
from segmentation.gate import GateScores, Tolerances, judge
from segmentation.lineage import trace_lineage
from segmentation.overlap import SegmentOverlap, moves
from segmentation.populations import CHANGES, changed_population, mixed_sample
from segmentation.synthetic import generate_leads

MIXES = (0.0, 0.2, 0.5, 0.8)
SIZE = 4_000  # leads per refit sample: a refit takes about a second


@pytest.fixture(scope="module")
def served() -> tuple[ModelSnapshot, dict[int, int]]:
    """The model served before the change, and the served id of each planted group."""
    leads = generate_leads(6000, random_state=1)
    _, snapshot = fit_model(leads.X, config=StrategyConfig(), version=1)
    return snapshot, group_ids(
        leads.true_segment, np.array(snapshot.segment_ids)[snapshot.to_segmenter().predict(leads.X)]
    )


def refit(
    served: tuple[ModelSnapshot, dict[int, int]], kind: str, mix: float, seed: int
) -> tuple[ModelSnapshot, RefitOutcome]:
    snapshot, groups = served
    sample = mixed_sample(changed_population(kind), mix, SIZE, random_state=100 + seed)  # type: ignore[arg-type]
    candidate, verdict = refit_model(sample.X, snapshot, version=2, k=None, random_state=seed)
    ids = np.array(candidate.segment_ids)[candidate.to_segmenter().predict(sample.X)]
    assert candidate.lineage is not None
    steps = {e.segment_id: (e.kind, tuple(e.from_), tuple(e.into), tuple(e.absorbed or ())) for e in candidate.lineage}
    return candidate, RefitOutcome(verdict.promote, steps, groups, group_ids(sample.true_segment, ids))


SEEDS = [0, pytest.param(1, marks=pytest.mark.slow)]
# Known misses (see docs/refit-adaptation.md): Churn Risk shrunk to 2 % is absorbed into Mid-Market Nurture, which the
# lineage names right, but the gate finds the candidate's inertia per lead 5.2 % above the served model's (at most 5 %):
# the served model still describes that 2 % group better.
KNOWN = {("shrunk", 0.0, 1): "a 2 % group absorbed: inertia per lead 5.2 % above the served (at most 5 %)"}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mix", MIXES)
@pytest.mark.parametrize("kind", CHANGES)
def test_a_planted_change_is_promoted_with_survivors_kept_and_the_change_named(
    served: tuple[ModelSnapshot, dict[int, int]], kind: str, mix: float, seed: int, request: pytest.FixtureRequest
) -> None:
    if (kind, mix, seed) in KNOWN:
        request.applymarker(pytest.mark.xfail(reason=KNOWN[kind, mix, seed], strict=True))
    candidate, outcome = refit(served, kind, mix, seed)
    assert problems(changed_population(kind), mix, outcome) == []  # type: ignore[arg-type]
    by_id = {s.id: s for s in served[0].segments}
    for segment in candidate.segments:  # a kept segment keeps its served name and strategy
        if segment.id in by_id:
            assert (segment.name, segment.strategy) == (by_id[segment.id].name, by_id[segment.id].strategy)


def test_the_same_population_moves_no_one_and_keeps_every_id(served: tuple[ModelSnapshot, dict[int, int]]) -> None:
    candidate, outcome = refit(served, "same", 0.0, 0)
    assert candidate.gate is not None and candidate.gate.decision == "promoted"
    assert {kind for kind, *_ in outcome.steps.values()} == {"kept"}
    assert candidate.gate.moved_share < 0.01 and candidate.gate.moved_unexplained_share is not None
    assert candidate.gate.moved_unexplained_share <= candidate.gate.moved_share


def test_churn_absorbed_into_mid_market_keeps_mid_markets_id_even_past_the_match_radius(
    served: tuple[ModelSnapshot, dict[int, int]],
) -> None:
    """The story of issue 23: Churn Risk stops, Solo Researchers appear, a fifth of the sample is still old traffic;
    K=5 puts Churn Risk's remnant with Mid-Market Nurture. A tiny match radius puts that centroid past it: the
    members still say it is Mid-Market Nurture."""
    snapshot, groups = served
    sample = mixed_sample(changed_population("replaced"), 0.2, SIZE, random_state=100)
    candidate, verdict = refit_model(sample.X, snapshot, version=2, k=5, match_radius=0.01)
    mid, churn = groups[3], groups[4]
    assert verdict.promote, verdict.reasons
    assert candidate.lineage is not None
    entries = {e.segment_id: e for e in candidate.lineage}
    assert entries[mid].kind == "kept" and entries[mid].absorbed == [churn]
    assert (entries[churn].kind, entries[churn].from_, entries[churn].into) == ("merged", [mid, churn], [mid])
    assert [e.kind for e in candidate.lineage if e.segment_id > snapshot.high_water] == ["new"]
    assert {s.id for s in candidate.segments} == {groups[g] for g in range(4)} | {snapshot.high_water + 1}
    assert candidate.gate is not None and candidate.gate.moved_unexplained_share is not None
    assert candidate.gate.moved_unexplained_share < 0.02 < candidate.gate.moved_share


def overlap_of(served_index: np.ndarray, candidate_index: np.ndarray, m: int, k: int) -> SegmentOverlap:
    table = np.zeros((m, k), dtype=np.int64)
    np.add.at(table, (served_index, candidate_index), 1)
    return SegmentOverlap(
        distances=np.where(np.eye(m, k) > 0, 0.1, 9.0),
        radii=np.ones(m),
        served_index=served_index,
        candidate_index=candidate_index,
        member=np.ones(len(served_index), dtype=bool),
        table=table,
        members=table,
        expected=np.bincount(served_index, minlength=m).astype(float),
    )


SERVED_SCORES = GateScores(1.0, 0.5, 0.2, 0.95)


def test_ids_swapped_between_two_kept_segments_are_refused_as_unexplained_moves() -> None:
    served_index = np.repeat([0, 1, 2], 100)
    overlap = overlap_of(served_index, served_index, 3, 3)
    lineage = trace_lineage(overlap.distances, overlap.radii, overlap.table, np.array([0, 1, 2]), 2)
    swapped = type(lineage)((1, 0, 2), lineage.kept, lineage.steps, lineage.high_water)  # a relabeling
    moved = moves(overlap, swapped, np.array([0, 1, 2]))
    assert (round(moved.total, 3), moved.explained, round(moved.unexplained, 3)) == (0.667, 0.0, 0.667)
    verdict = judge(SERVED_SCORES, SERVED_SCORES, moved, Tolerances())
    assert not verdict.promote and "does not explain" in verdict.reasons[0]


def test_a_kept_groups_leads_sent_to_another_kept_group_are_unexplained_and_refused() -> None:
    # served 0 keeps its id by distance (0.1 within the radius), but 40 % of its members now land in segment 1
    served_index = np.repeat([0, 0, 1, 2], [60, 40, 100, 100])
    candidate_index = np.repeat([0, 1, 1, 2], [60, 40, 100, 100])
    overlap = overlap_of(served_index, candidate_index, 3, 3)
    lineage = trace_lineage(overlap.distances, overlap.radii, overlap.table, np.array([0, 1, 2]), 2)
    assert lineage.ids == (0, 1, 2) and all(lineage.kept)
    moved = moves(overlap, lineage, np.array([0, 1, 2]))
    assert round(moved.unexplained, 3) == round(40 / 300, 3) and moved.explained == 0.0
    assert not judge(SERVED_SCORES, SERVED_SCORES, moved, Tolerances(moved_share=0.1)).promote


def test_moves_of_an_absorbed_segment_are_explained_and_not_held_to_the_tolerance() -> None:
    served_index = np.repeat([0, 1, 2], [100, 100, 20])
    candidate_index = np.repeat([0, 1, 0], [100, 100, 20])
    overlap = overlap_of(served_index, candidate_index, 3, 2)
    lineage = trace_lineage(overlap.distances, overlap.radii, overlap.table, np.array([0, 1, 2]), 2)
    assert [(s.segment_id, s.kind, s.absorbed) for s in lineage.steps] == [(0, "kept", (2,)), (1, "kept", ()),
                                                                           (2, "merged", ())]  # fmt: skip
    moved = moves(overlap, lineage, np.array([0, 1, 2]))
    assert moved.unexplained == 0.0 and round(moved.explained, 3) == round(20 / 220, 3)
    assert judge(SERVED_SCORES, SERVED_SCORES, moved, Tolerances(moved_share=0.05)).promote
