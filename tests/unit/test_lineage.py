"""Segment lineage across a refit (issue 14): kept, new, retired, split and merged segments, ids never reused,
and model files without lineage still load."""

import json

import numpy as np
import pytest

from models.snapshot import ModelSnapshot
from models.snapshot_parts import GateReport, LineageEntry
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.lineage import (
    GONE_SHARE,
    MERGE_SHARE,
    PURITY,
    SPLIT_SHARE,
    SURVIVAL,
    Lineage,
    crosstab,
    trace_lineage,
)
from segmentation.synthetic import generate_leads

FAR = 10.0


def kinds(lineage: Lineage) -> list[tuple[int, str, tuple[int, ...], tuple[int, ...]]]:
    return [(s.segment_id, s.kind, s.from_ids, s.into_ids) for s in lineage.steps]


def test_near_segments_keep_their_ids_and_the_rest_are_new_or_retired() -> None:
    distances = np.array([[0.1, FAR, FAR], [FAR, 0.2, FAR], [FAR, FAR, FAR]])
    table = np.array([[40, 0, 0], [0, 30, 0], [0, 0, 0]])  # served segment 9 has no leads any more
    lineage = trace_lineage(distances, np.ones(3), table, np.array([4, 2, 9]), high_water=11)
    assert lineage.ids == (4, 2, 12) and lineage.kept == (True, True, False) and lineage.high_water == 12
    assert kinds(lineage) == [(2, "kept", (2,), (2,)), (4, "kept", (4,), (4,)), (9, "retired", (9,), ()),
                              (12, "new", (), (12,))]  # fmt: skip


def test_a_match_beyond_the_radius_is_not_kept_even_when_it_is_the_nearest() -> None:
    lineage = trace_lineage(np.array([[2.0]]), np.array([1.0]), np.array([[0]]), np.array([0]), high_water=0)
    assert lineage.ids == (1,)
    assert kinds(lineage) == [(0, "retired", (0,), ()), (1, "new", (), (1,))]


def test_a_served_segment_whose_leads_fall_into_two_candidates_is_split() -> None:
    distances = np.array([[0.1, FAR, FAR], [FAR, 3.0, 3.0]])
    table = np.array([[50, 0, 0], [0, 25, 20]])
    lineage = trace_lineage(distances, np.ones(2), table, np.array([0, 1]), high_water=1)
    assert lineage.ids == (0, 2, 3)
    assert kinds(lineage) == [(0, "kept", (0,), (0,)), (1, "split", (1,), (2, 3)), (2, "split", (1,), (2, 3)),
                              (3, "split", (1,), (2, 3))]  # fmt: skip


def test_two_served_segments_in_one_candidate_are_merged() -> None:
    distances = np.array([[3.0, FAR], [3.0, FAR], [FAR, 0.1]])
    table = np.array([[30, 2], [25, 1], [0, 40]])
    lineage = trace_lineage(distances, np.ones(3), table, np.array([0, 1, 2]), high_water=2)
    assert lineage.ids == (3, 2)
    assert kinds(lineage) == [(0, "merged", (0, 1), (3,)), (1, "merged", (0, 1), (3,)), (2, "kept", (2,), (2,)),
                              (3, "merged", (0, 1), (3,))]  # fmt: skip


def test_a_segment_absorbed_by_a_kept_one_is_merged_into_it() -> None:
    distances = np.array([[0.1], [3.0]])
    lineage = trace_lineage(distances, np.ones(2), np.array([[40], [10]]), np.array([0, 1]), high_water=1)
    assert lineage.ids == (0,)
    assert kinds(lineage) == [(0, "kept", (0,), (0,)), (1, "merged", (0, 1), (0,))]


def test_a_segment_whose_leads_are_mostly_gone_is_retired_not_merged() -> None:
    distances = np.array([[0.1], [3.0]])
    expected = np.array([40.0, 40.0])
    lineage = trace_lineage(distances, np.ones(2), np.array([[40], [3]]), np.array([0, 1]), 1, expected=expected)
    assert kinds(lineage) == [(0, "kept", (0,), (0,)), (1, "retired", (1,), ())]


def test_fresh_ids_start_above_the_high_water_mark_not_the_served_ids() -> None:
    lineage = trace_lineage(np.array([[FAR, FAR]]), np.ones(1), np.zeros((1, 2), int), np.array([0]), high_water=7)
    assert lineage.ids == (8, 9) and lineage.high_water == 9


def test_crosstab_counts_leads_by_both_labels() -> None:
    assert crosstab(np.array([0, 1, 1, 1]), np.array([2, 0, 0, 1]), 2, 3).tolist() == [[0, 0, 1], [2, 1, 0]]


@pytest.fixture(scope="module")
def served() -> ModelSnapshot:
    return fit_model(generate_leads(800, random_state=1).X, config=StrategyConfig(), k=4, version=1)[1]


def test_a_model_file_without_lineage_loads_with_the_high_water_mark_at_its_largest_id(served: ModelSnapshot) -> None:
    text = served.model_dump_json(exclude={"lineage", "segment_id_high_water"})
    loaded = ModelSnapshot.from_json(text)
    assert loaded.lineage is None and loaded.segment_id_high_water is None and loaded.high_water == 3
    assert loaded.model_copy(update={"segment_id_high_water": 9}).high_water == 9


def test_lineage_is_stored_with_from_and_into(served: ModelSnapshot) -> None:
    entry = LineageEntry.model_validate({"segment_id": 3, "kind": "split", "from": [3], "into": [5, 6]})
    stored = served.model_copy(update={"lineage": [entry], "segment_id_high_water": 6}).model_dump_json()
    assert '"from":[3],"into":[5,6]' in stored
    loaded = ModelSnapshot.from_json(stored)
    assert loaded.lineage == [entry] and loaded.high_water == 6


def test_a_high_water_mark_below_a_segment_id_is_refused(served: ModelSnapshot) -> None:
    text = served.model_dump_json().replace('"segment_id_high_water":null', '"segment_id_high_water":1')
    with pytest.raises(ValueError, match="segment_id_high_water"):
        ModelSnapshot.from_json(text)


# Overlap rules (issue 23): thresholds of MONIC / clusTransition, each tested on both sides.


def test_a_candidate_taking_the_survival_share_of_members_keeps_the_id_however_far_its_centroid_moved() -> None:
    far = np.array([[FAR, FAR], [FAR, FAR]])
    held = int(SURVIVAL * 100)
    kept = trace_lineage(far, np.ones(2), np.array([[held, 100 - held], [0, 100]]), np.array([0, 1]), 1)
    assert kept.ids == (0, 1) and kept.kept == (True, True)
    short = trace_lineage(far, np.ones(2), np.array([[held - 1, 101 - held], [0, 100]]), np.array([0, 1]), 1)
    assert short.ids[1] == 1 and not short.kept[0]  # 0 is no longer continued by overlap, and too far by distance


def test_a_candidate_drawing_under_the_purity_share_from_a_served_segment_does_not_continue_it() -> None:
    far = np.array([[FAR, FAR]])
    mostly_others = np.array([[90, 10]])
    # 90 of served 0's 100 members land in candidate 0, but candidate 0 holds 200 leads: 110 come from outside
    table = np.array([[90, 10]])
    lineage = trace_lineage(far, np.ones(1), np.array([[90, 10]]), np.array([0]), 0, members=mostly_others)
    assert lineage.kept == (True, False)
    wide = trace_lineage(far, np.ones(1), table + np.array([[110, 0]]), np.array([0]), 0, members=mostly_others)
    assert wide.kept == (False, False) and [s.kind for s in wide.steps][0] == "retired"
    assert 90 / 200 < PURITY <= 90 / 100


def test_a_split_needs_each_part_to_take_the_split_share_of_members() -> None:
    far = np.array([[FAR, FAR, FAR]])
    assert SPLIT_SHARE == 0.3
    split = trace_lineage(far, np.ones(1), np.array([[30, 40, 30]]), np.array([0]), 0)
    assert [s.kind for s in split.steps] == ["split"] * 4  # the parent and three parts of 30, 40 and 30
    two = trace_lineage(far, np.ones(1), np.array([[29, 41, 30]]), np.array([0]), 0)
    assert two.step_of(0).into_ids == (2, 3) and two.step_of(1).kind == "new"  # the part of 29 % is not one


def test_a_small_remnant_is_absorbed_by_the_keeper_but_a_comparable_partner_makes_a_merge() -> None:
    far = np.array([[FAR], [FAR]])
    remnant = int(100 * MERGE_SHARE / (1 - MERGE_SHARE)) - 1  # just under MERGE_SHARE of the candidate's leads
    absorbed = trace_lineage(far, np.ones(2), np.array([[100], [remnant]]), np.array([0, 4]), 4)
    assert kinds(absorbed) == [(0, "kept", (0,), (0,)), (4, "merged", (0, 4), (0,))]
    assert absorbed.step_of(0).absorbed == (4,)
    merged = trace_lineage(far, np.ones(2), np.array([[100], [remnant + 2]]), np.array([0, 4]), 4)
    assert kinds(merged) == [(0, "merged", (0, 4), (5,)), (4, "merged", (0, 4), (5,)), (5, "merged", (0, 4), (5,))]


def test_a_remnant_under_the_gone_share_of_its_expected_leads_is_retired_and_its_leads_explained() -> None:
    far = np.array([[FAR], [FAR]])
    expected = np.array([100.0, 100.0])
    few = int(GONE_SHARE * 100) - 1
    lineage = trace_lineage(far, np.ones(2), np.array([[100], [few]]), np.array([0, 1]), 1, expected=expected)
    assert kinds(lineage) == [(0, "kept", (0,), (0,)), (1, "retired", (1,), ())] and lineage.scattered == ()


def test_an_absorbing_segment_is_stored_with_what_it_absorbed_and_old_entries_read_as_before(
    served: ModelSnapshot,
) -> None:
    plain = {"segment_id": 0, "kind": "kept", "from": [0], "into": [0]}
    assert (
        LineageEntry.model_validate(plain).model_dump_json()
        == '{"segment_id":0,"kind":"kept","from":[0],"into":[0],"name":null}'
    )
    keeper = LineageEntry.model_validate(plain | {"absorbed": [4]})
    merged = LineageEntry.model_validate({"segment_id": 4, "kind": "merged", "from": [0, 4], "into": [0]})
    stored = served.model_copy(update={"lineage": [keeper, merged], "segment_id_high_water": 4}).model_dump_json()
    assert '"into":[0],"name":null,"absorbed":[4]}' in stored
    assert ModelSnapshot.from_json(stored).lineage == [keeper, merged]


def test_a_gate_report_without_the_moved_split_reads_and_writes_as_before(served: ModelSnapshot) -> None:
    report = {"decision": "promoted", "reasons": [], "served_version": 1, "k": 4, "served_k": 4, "held_out": 200,
              "moved_share": 0.1, "candidate": {}, "served": {}}  # fmt: skip
    old = GateReport.model_validate(report)
    assert old.moved_unexplained_share is None and json.loads(old.model_dump_json()) == report
    new = GateReport.model_validate(report | {"moved_explained_share": 0.08, "moved_unexplained_share": 0.02})
    assert json.loads(new.model_dump_json())["moved_unexplained_share"] == 0.02
