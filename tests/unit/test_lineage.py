"""Segment lineage across a refit (issue 14): kept, new, retired, split and merged segments, ids never reused,
and model files without lineage still load."""

import numpy as np
import pytest

from models.snapshot import ModelSnapshot
from models.snapshot_parts import LineageEntry
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.lineage import Lineage, crosstab, trace_lineage
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
