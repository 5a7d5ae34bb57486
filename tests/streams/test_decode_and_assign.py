"""The hot path's pure logic: decoding raw messages and assigning a batch, no broker needed."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from models.events import DeadLetter, LeadEvent, SegmentAssigned, SegmentTransition
from models.snapshot import ModelSnapshot
from models.snapshot_parts import GateReport, LineageEntry
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.features import FEATURES
from segmentation.holdout import HoldoutDraw
from segmentation.synthetic import generate_leads
from streams.clients.records import LeadMessage
from streams.model_plane.serving import ServingModel
from streams.routing.assign import Routed, assign
from streams.routing.dead_letters import DeadLetters
from streams.routing.decode import decode

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def snapshot() -> ModelSnapshot:
    leads = generate_leads(1500, random_state=2)
    return fit_model(leads.X, config=StrategyConfig(), k=5, version=7)[1]


def raw(value: bytes, offset: int = 0, key: bytes | None = b"k") -> LeadMessage:
    return LeadMessage("leads", 1, offset, key, value)


def lead(lead_id: str = "L1", **changes: object) -> dict[str, object]:
    event = LeadEvent.from_row("L1", generate_leads(1, random_state=0).X[0])
    return event.model_dump(mode="json", exclude_none=True) | {"lead_id": lead_id} | changes


def encode(event: dict[str, object]) -> bytes:
    return json.dumps(event).encode()


def test_decode_accepts_valid_leads_and_ignores_unknown_fields() -> None:
    valid, rejected, _ = decode([raw(encode(lead(extra_field={"nested": [1]})))], max_bytes=4096)
    assert rejected == []
    assert valid[0][1].lead_id == "L1"


@pytest.mark.parametrize(
    ("value", "error_class", "reason"),
    [
        (b"{not json", "not_json", "not a JSON object"),
        (b"\xff\xfe", "not_utf8", "not UTF-8 at byte 0"),
        (b"", "not_json", "not a JSON object"),
        (b"[1, 2]", "invalid", "Input should be an object"),
        (encode(lead(company_size=-1)), "invalid", "company_size: Input should be greater than or equal to 0"),
        (encode(lead(email_open_rate=1.01)), "invalid", "email_open_rate: Input should be less than or equal to 1"),
        (encode(lead(decision_maker_level=2.5)), "invalid", "decision_maker_level: Input should be a valid integer"),
        (encode(lead(engagement_score="80")), "invalid", "engagement_score: Input should be a valid number"),
        (encode(lead(lead_id="")), "invalid", "lead_id: String should have at least 1 character"),
        (encode(lead(pages_viewed=True)), "invalid", "pages_viewed: Input should be a valid number"),
        (encode(lead()).replace(b'"engagement_score": ', b'"engagement_score": NaN, "x": '), "invalid", "finite"),
        (encode(lead(padding="x" * 5000)), "oversize", "more than 4096"),
    ],
)
def test_decode_rejects_bad_events_with_a_reason(value: bytes, error_class: str, reason: str) -> None:
    valid, rejected, _ = decode([raw(value)], max_bytes=4096)
    assert valid == []
    assert rejected[0].error_class == error_class
    assert reason in rejected[0].reason


def test_missing_fields_are_counted_in_the_reason() -> None:
    event = {k: v for k, v in lead().items() if k not in ("company_size", "industry_fit")}
    _, rejected, _ = decode([raw(encode(event))], max_bytes=4096)
    assert rejected[0].reason == "company_size: Field required (+1 more)"


def test_dead_letter_headers_name_the_source() -> None:
    _, rejected, _ = decode([raw(b"nope", offset=42)], max_bytes=4096)
    headers = dict(DeadLetters("leads-dlq", 4096).of(rejected[0], model_version=3).headers)
    assert headers["source_topic"] == b"leads" and headers["source_partition"] == b"1"
    assert headers["source_offset"] == b"42" and headers["error_class"] == b"not_json"
    assert headers["model_version"] == b"3"
    assert DeadLetter.model_validate({k: v.decode() for k, v in headers.items()}).source_offset == 42


def test_assign_matches_the_model_and_fills_every_field(snapshot: ModelSnapshot) -> None:
    leads = generate_leads(300, random_state=9)
    raws = [raw(LeadEvent.from_row(f"L{i}", row).model_dump_json().encode(), i) for i, row in enumerate(leads.X)]
    valid, _, _ = decode(raws, max_bytes=4096)
    model = ServingModel(snapshot)
    routed = assign(model, valid, {"L0": 4}, NOW)
    out = [SegmentAssigned.model_validate_json(r.value) for r in routed]
    expected = model.segmenter.predict(leads.X)
    assert [o.segment_id for o in out] == [snapshot.segments[i].id for i in expected]
    assert out[0].previous_segment_id == 4 and out[1].previous_segment_id is None
    assert all(o.model_version == 7 and o.assigned_at == NOW for o in out)
    assert all(o.strategy == snapshot.segments[o.segment_id].strategy for o in out)
    assert all(set(o.top_features) <= set(FEATURES) and len(o.top_features) == 3 for o in out)
    assert [(r.lead_id, r.segment_id, r.previous_segment_id) for r in routed] == [
        (o.lead_id, o.segment_id, o.previous_segment_id) for o in out
    ]


def test_a_holdout_lead_keeps_its_segment_and_gets_the_baseline_campaign(snapshot: ModelSnapshot) -> None:
    leads = generate_leads(400, random_state=4)
    raws = [raw(LeadEvent.from_row(f"H{i}", row).model_dump_json().encode(), i) for i, row in enumerate(leads.X)]
    valid, _, _ = decode(raws, max_bytes=4096)
    model, draw = ServingModel(snapshot), HoldoutDraw(0.3, "exp-1")
    out = [SegmentAssigned.model_validate_json(r.value) for r in assign(model, valid, {}, NOW, holdout=draw)]
    plain = [SegmentAssigned.model_validate_json(r.value) for r in assign(model, valid, {}, NOW)]
    assert [o.segment_id for o in out] == [p.segment_id for p in plain]
    assert [o.arm for o in out] == [draw.arm(o.lead_id) for o in out]
    assert 80 < sum(o.arm == "holdout" for o in out) < 160
    for o in out:
        own = snapshot.segments[o.segment_id].strategy
        assert o.strategy == (snapshot.baseline.strategy if o.arm == "holdout" else own)
    assert {p.arm for p in plain} == {"segmented"}


def test_the_published_json_keeps_the_event_time_and_the_schema_field_order(snapshot: ModelSnapshot) -> None:
    occurred = datetime(2026, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)
    valid, _, _ = decode([raw(encode(lead(occurred_at=occurred.isoformat())), 3)], max_bytes=4096)
    (routed,) = assign(ServingModel(snapshot), valid, {}, NOW)
    published = SegmentAssigned.model_validate_json(routed.value)
    assert published.occurred_at == occurred and published.assigned_at == NOW
    assert list(json.loads(routed.value)) == list(SegmentAssigned.model_fields)


def test_event_ids_are_deterministic_per_message_and_model_version(snapshot: ModelSnapshot) -> None:
    valid, _, _ = decode([raw(encode(lead()), offset=5), raw(encode(lead()), offset=6)], max_bytes=4096)
    model = ServingModel(snapshot)
    first, second = event_ids(assign(model, valid, {}, NOW)), event_ids(assign(model, valid, {}, NOW))
    assert first == second
    assert first[0] != first[1]
    assert first[0] == str(uuid.uuid5(uuid.UUID("6f1f5a8e-5d1c-4c36-9f43-2f4b1c1f7a10"), "leads/1/5/7"))  # as ever
    newer = ServingModel(snapshot.model_copy(update={"version": 8}))
    assert event_ids(assign(newer, valid[:1], {}, NOW))[0] != first[0]


def event_ids(routed: list[Routed]) -> list[str]:
    return [json.loads(r.value)["event_id"] for r in routed]


def test_a_lead_twice_in_one_batch_sees_its_first_assignment_as_previous(snapshot: ModelSnapshot) -> None:
    valid, _, _ = decode([raw(encode(lead("same")), offset=1), raw(encode(lead("same")), offset=2)], max_bytes=4096)
    first, second = assign(ServingModel(snapshot), valid, {}, NOW)
    assert first.previous_segment_id is None
    assert second.previous_segment_id == first.segment_id


def test_empty_batch_assigns_nothing(snapshot: ModelSnapshot) -> None:
    assert assign(ServingModel(snapshot), [], {}, NOW) == []


def test_a_field_given_twice_is_dead_lettered_whichever_value_comes_last() -> None:
    body = encode(lead()).decode()[1:-1]
    for first, last in (("-1", "220"), ("220", "-1")):
        value = f'{{"company_size": {first}, {body}, "company_size": {last}}}'.encode()
        valid, [bad], _ = decode([raw(value)], max_bytes=4096)
        assert valid == [] and bad.error_class == "invalid" and bad.reason.startswith("company_size: ")


@pytest.mark.parametrize(
    "spelling",
    [
        '{"company_size":-1,BODY,"company_size":220}',  # compact
        '{"company_size" : -1, BODY, "company_size" :220}',  # space before the colon
        '{"company_size"\n:-1,BODY,"company_size":220}',  # a newline before it
        '{"company\\u005fsize": -1, BODY, "company_size": 220}',  # the name spelled with an escape
        '{"note": "a\\":b", "company_size": -1, BODY, "company_size": 220}',  # a key-like value before
    ],
)
def test_a_repeated_field_is_found_however_the_json_is_spelled(spelling: str) -> None:
    body = encode({k: v for k, v in lead().items() if k != "company_size"}).decode()[1:-1]
    value = spelling.replace("BODY", body).encode()
    valid, [bad], _ = decode([raw(value)], max_bytes=4096)
    assert valid == [] and bad.reason.startswith("company_size: ")


@pytest.mark.parametrize(
    "extra",
    ['"occurred_at": "2026-11-27T10:00:00Z"', '"note": "a\\":b"', '"nested": {"company_size": 5}'],
)
def test_a_lead_giving_each_field_once_is_accepted_whatever_else_it_carries(extra: str) -> None:
    body = encode(lead()).decode()[1:-1]
    valid, rejected, _ = decode([raw(f"{{{extra}, {body}}}".encode())], max_bytes=4096)
    assert rejected == [] and len(valid) == 1


def transitions_of(routed: list[Routed]) -> list[SegmentTransition | None]:
    return [None if r.transition is None else SegmentTransition.model_validate_json(r.transition) for r in routed]


def test_a_lead_in_the_same_segment_emits_no_transition_and_one_that_moved_says_so(snapshot: ModelSnapshot) -> None:
    valid, _, _ = decode([raw(encode(lead("a")), 1), raw(encode(lead("b")), 2)], max_bytes=4096)
    model = ServingModel(snapshot)
    segment = assign(model, valid[:1], {}, NOW)[0].segment_id
    other = next(s for s in snapshot.segments if s.id != segment)
    stayed, moved = transitions_of(assign(model, valid, {"a": segment, "b": other.id}, NOW))
    assert stayed is None and moved is not None
    assert (moved.lead_id, moved.reason, moved.from_segment_id, moved.from_segment_name) == (
        "b",
        "lead_changed",
        other.id,
        other.name,
    )
    to = {s.id: s.name for s in snapshot.segments}
    assert (moved.to_segment_id, moved.to_segment_name) == (segment, to[segment])
    assert (moved.from_model_version, moved.to_model_version) == (7, 7)
    assert moved.event_id == str(uuid.uuid5(uuid.UUID("0b7e4f1c-2a9d-4e3b-8c55-7d1e6a4f9b22"), "leads/1/2/7"))
    assert moved.event_id != event_ids(assign(model, valid, {}, NOW))[1]
    assert list(json.loads(assign(model, valid, {"b": other.id}, NOW)[1].transition or b"")) == list(
        SegmentTransition.model_fields
    )


def test_a_lead_whose_segment_a_refit_retired_split_or_merged_gets_that_reason(snapshot: ModelSnapshot) -> None:
    gate = GateReport(decision="promoted", reasons=[], served_version=6, k=5, served_k=5, held_out=0,
                      moved_share=0, candidate={}, served={})  # fmt: skip
    lineage = [
        LineageEntry.model_validate({"segment_id": 20, "kind": kind, "from": [20], "into": into, "name": name})
        for kind, into, name in (("retired", [], "Gone"),)
    ] + [
        LineageEntry.model_validate({"segment_id": 21, "kind": "split", "from": [21], "into": [0, 1], "name": "Two"}),
        LineageEntry.model_validate({"segment_id": 22, "kind": "merged", "from": [22, 23], "into": [2]}),
    ]
    model = ServingModel(snapshot.model_copy(update={"gate": gate, "lineage": lineage}))
    ids = [f"L{i}" for i in range(4)]
    valid, _, _ = decode([raw(encode(lead(i)), n) for n, i in enumerate(ids)], max_bytes=4096)
    out = transitions_of(assign(model, valid, dict(zip(ids, [20, 21, 22, 99], strict=True)), NOW))
    assert [(t.reason, t.from_segment_name, t.from_model_version) for t in out if t is not None] == [
        ("segment_retired", "Gone", 6),
        ("segment_split", "Two", 6),
        ("segment_merged", None, 6),
        ("segment_retired", None, None),  # an id retired before this model's refit: no name or version known
    ]
