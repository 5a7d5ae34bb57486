"""`assign` with a transition margin (hysteresis): a lead near a boundary stays in the segment it was in, and its
`SegmentAssigned` describes that segment; a lead whose segment is no longer served always moves."""

from datetime import UTC, datetime

import numpy as np
import pytest

from models.events import LeadEvent, SegmentAssigned, SegmentTransition
from models.snapshot_parts import GateReport, LineageEntry
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from streams.clients.records import LeadMessage, RawLead
from streams.model_plane.serving import ServingModel
from streams.routing.assign import Routed, assign
from streams.routing.decode import Lead, decode

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SHIFT = 10  # segment ids 10..14 at indices 0..4, so that an id is never taken for an index


@pytest.fixture(scope="module")
def model() -> ServingModel:
    snapshot = fit_model(generate_leads(1500, random_state=2).X, config=StrategyConfig(), k=5, version=7)[1]
    segments = [s.model_copy(update={"id": s.id + SHIFT}) for s in snapshot.segments]
    return ServingModel(snapshot.model_copy(update={"segments": segments}))


@pytest.fixture(scope="module")
def leads(model: ServingModel) -> dict[str, np.ndarray]:
    """`boundary`: a lead 2-5 % nearer segment index `b` than `a` (within a margin of 0.1, beyond 0.01);
    `deep_a`: a lead well inside `a`."""
    X = generate_leads(4000, random_state=11).X
    result = model.segmenter.assign(X)
    d = np.sqrt(((model.segmenter.transform(X)[:, None, :] - model.segmenter.centroids_) ** 2).sum(axis=2))
    ratio = np.sort(d, axis=1)[:, 1] / d.min(axis=1)
    i = int(np.flatnonzero((ratio > 1.02) & (ratio < 1.05))[0])
    b, a = np.argsort(d[i])[:2].tolist()
    deep = int(np.flatnonzero((result.segment == a) & (result.confidence > 0.5))[0])
    return {"boundary": X[i], "deep_a": X[deep], "a": np.array(a), "b": np.array(b)}


def batch(*rows: tuple[str, np.ndarray]) -> list[tuple[RawLead, Lead]]:
    messages = [
        LeadMessage("leads", 0, n, lead_id.encode(), LeadEvent.from_row(lead_id, row).model_dump_json().encode())
        for n, (lead_id, row) in enumerate(rows)
    ]
    valid, rejected, _ = decode(messages, max_bytes=4096)
    assert rejected == []
    return valid


def published(routed: list[Routed]) -> list[tuple[int, int | None, str | None]]:
    """Per lead: its segment id, previous segment id, and the reason of its transition if it has one."""
    return [
        (
            r.segment_id,
            r.previous_segment_id,
            None if r.transition is None else SegmentTransition.model_validate_json(r.transition).reason,
        )
        for r in routed
    ]


def test_a_lead_near_a_boundary_stays_in_its_segment_within_the_margin_and_moves_beyond_it(
    model: ServingModel, leads: dict[str, np.ndarray]
) -> None:
    a, b = int(leads["a"]) + SHIFT, int(leads["b"]) + SHIFT
    valid = batch(("L", leads["boundary"]))
    (stayed,) = assign(model, valid, {"L": a}, NOW, margin=0.1)
    assert published([stayed]) == [(a, a, None)]
    out = SegmentAssigned.model_validate_json(stayed.value)
    segment = model.snapshot.segments[int(leads["a"])]
    assert (out.segment_id, out.segment_name, out.strategy) == (a, segment.name, segment.strategy)
    held = model.segmenter.assign(leads["boundary"][None, :], previous=leads["a"][None], margin=0.1)
    assert out.distance == pytest.approx(float(held.distance[0])) and out.confidence == 0.0
    assert out.is_outlier == bool(held.is_outlier[0])
    for margin in (0.01, 0.0):  # beyond the margin, or none: the nearest segment, and a transition
        assert published(assign(model, valid, {"L": a}, NOW, margin=margin)) == [(b, a, "lead_changed")]
    assert [r.value for r in assign(model, valid, {"L": a}, NOW, margin=0.0)] == [
        r.value for r in assign(model, valid, {"L": a}, NOW)
    ]


def test_a_lead_whose_segment_was_retired_split_or_merged_moves_whatever_the_margin(
    model: ServingModel, leads: dict[str, np.ndarray]
) -> None:
    gate = GateReport(decision="promoted", reasons=[], served_version=6, k=5, served_k=5, held_out=0,
                      moved_share=0, candidate={}, served={})  # fmt: skip
    lineage = [
        LineageEntry.model_validate({"segment_id": 20, "kind": "retired", "from": [20], "into": [], "name": "Gone"}),
        LineageEntry.model_validate({"segment_id": 21, "kind": "split", "from": [21], "into": [10, 11]}),
        LineageEntry.model_validate({"segment_id": 22, "kind": "merged", "from": [22, 23], "into": [12]}),
    ]
    refitted = ServingModel(model.snapshot.model_copy(update={"gate": gate, "lineage": lineage}))
    nearest = int(leads["a"]) + SHIFT
    ids = ["R", "S", "M", "U", "K"]
    previous = {"R": 20, "S": 21, "M": 22, "U": 99, "K": int(leads["b"]) + SHIFT}  # K: a kept segment
    routed = assign(refitted, batch(*((i, leads["deep_a"]) for i in ids)), previous, NOW, margin=100)
    assert published(routed) == [
        (nearest, 20, "segment_retired"),
        (nearest, 21, "segment_split"),
        (nearest, 22, "segment_merged"),
        (nearest, 99, "segment_retired"),
        (previous["K"], previous["K"], None),  # a margin of 100 holds a lead in any segment still served
    ]


def test_a_lead_seen_again_in_the_batch_is_held_by_its_own_earlier_assignment(
    model: ServingModel, leads: dict[str, np.ndarray]
) -> None:
    a, b = int(leads["a"]) + SHIFT, int(leads["b"]) + SHIFT
    valid = batch(("L", leads["deep_a"]), ("L", leads["boundary"]), ("L", leads["boundary"]), ("X", leads["deep_a"]))
    # L moved to a, then sits near the boundary (nearer b) twice: held in a each time, not sent back to b.
    assert published(assign(model, valid, {"L": b, "X": a}, NOW, margin=0.1)) == [
        (a, b, "lead_changed"),
        (a, a, None),
        (a, a, None),
        (a, a, None),
    ]
    assert published(assign(model, valid[:2], {}, NOW, margin=0.1)) == [(a, None, None), (a, a, None)]  # a new lead
    assert published(assign(model, valid, {"L": b}, NOW, margin=0.0)) == [
        (a, b, "lead_changed"),
        (b, a, "lead_changed"),
        (b, b, None),
        (a, None, None),
    ]
