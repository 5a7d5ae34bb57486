"""`decode` accepts most events without the validator; whatever it decides must be what `LeadEvent` decides."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from models.events import LeadEvent
from segmentation.features import FEATURES
from segmentation.synthetic import generate_leads
from streams.clients.records import LeadMessage
from streams.routing.dead_letters import Rejected
from streams.routing.decode import Lead, _validate, decode, features_of

MAX_BYTES = 4096
BASE = LeadEvent.from_row("L1", generate_leads(1, random_state=0).X[0]).model_dump(mode="json", exclude_none=True)

numbers = st.one_of(
    st.integers(-5, 10),
    st.integers(1, 5).map(float),  # a level written 2.0: a float, not the integer the level must be
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(0, 1),
    st.floats(0, 1e13),
)
odd_values = st.one_of(st.booleans(), st.none(), st.text(max_size=3), st.lists(st.integers(), max_size=2))
offsets = st.integers(-24 * 60 + 1, 24 * 60 - 1).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@st.composite
def timestamps(draw: st.DrawFn) -> object:
    moment = draw(st.datetimes(min_value=datetime(1, 1, 2), timezones=st.one_of(st.just(UTC), offsets)))
    text = moment.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds", "microseconds", "auto"])))
    if draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    return draw(
        st.one_of(
            st.just(text),
            st.just(text.replace("T", " ")),
            st.just(text[:19]),  # no offset
            st.just(text.lower()),
            st.sampled_from(
                ["2026-02-30T00:00:00Z", "2026-11-27T24:00:00Z", "2026-11-27T10:15:60Z", "0000-01-01T00:00:00Z"]
            ),
            st.text(max_size=30),
            st.integers(),
            st.none(),
        )
    )


@st.composite
def events(draw: st.DrawFn) -> bytes:
    """A valid lead, then some of: fields changed, removed or added, an id of any length, the timestamp
    varied, a field repeated."""
    event: dict[str, Any] = dict(BASE)
    for name in draw(st.lists(st.sampled_from([*FEATURES, "lead_id"]), max_size=3)):
        event[name] = draw(st.one_of(numbers, odd_values, st.text(max_size=3)))
    if draw(st.booleans()):
        event["lead_id"] = draw(st.one_of(st.text(max_size=3), st.text(min_size=127, max_size=129)))
    for name in draw(st.lists(st.sampled_from([*FEATURES, "lead_id"]), max_size=1)):
        event.pop(name, None)
    if draw(st.booleans()):
        event["occurred_at"] = draw(timestamps())
    if draw(st.booleans()):
        event[draw(st.sampled_from(["source", "note", "nested"]))] = draw(st.one_of(odd_values, st.just({"a": 1})))
    text = json.dumps(event, separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")])))
    if draw(st.integers(0, 9)) == 0:
        text = text[:-1] + ', "company_size": 5}'
    return text.encode()


def variant(**changes: object) -> bytes:
    return json.dumps(BASE | changes).encode()


@settings(max_examples=600, deadline=None)
@given(value=events())
@example(value=variant(decision_maker_level=2.0))
@example(value=variant(lead_id="x" * 129))
@example(value=variant(company_size=True))
@example(value=variant(occurred_at="2026-11-27T10:15:30+01:00"))
def test_decode_decides_as_the_validator_does(value: bytes) -> None:
    raw = LeadMessage("leads", 0, 1, b"k", value)
    valid, rejected, _ = decode([raw], MAX_BYTES)
    expected = _validate(raw, MAX_BYTES)
    if isinstance(expected, Rejected):
        assert valid == [] and rejected == [expected]
        return
    assert rejected == [] and len(valid) == 1
    assert same_lead(valid[0][1], expected)


def same_lead(got: Lead, expected: Lead) -> bool:
    """Equal ids and features, and timestamps that serialize alike (equal instants may differ in offset)."""
    return (
        got.lead_id == expected.lead_id
        and np.array_equal(np.array(got.features, dtype=np.float64), np.array(expected.features, dtype=np.float64))
        and orjson.dumps(got.occurred_at, option=orjson.OPT_UTC_Z)
        == orjson.dumps(expected.occurred_at, option=orjson.OPT_UTC_Z)
    )


def test_a_batch_keeps_its_order_when_some_events_need_the_validator() -> None:
    plain = json.dumps(BASE).encode()
    unusual = json.dumps(BASE | {"lead_id": "L2", "occurred_at": "2026-11-27 10:15:30"}).encode()
    out_of_bounds = json.dumps(BASE | {"email_open_rate": 2}).encode()
    values = [plain, unusual, b"nope", out_of_bounds, plain]
    valid, rejected, X = decode([LeadMessage("leads", 0, i, None, value) for i, value in enumerate(values)], MAX_BYTES)
    assert [(raw.offset, lead.lead_id) for raw, lead in valid] == [(0, "L1"), (1, "L2"), (4, "L1")]
    assert [bad.raw.offset for bad in rejected] == [2, 3]
    assert np.array_equal(X, features_of(valid))


def test_the_feature_matrix_of_plain_leads_skips_the_out_of_bounds_ones() -> None:
    values = [
        json.dumps(BASE | {"lead_id": f"L{i}", "company_size": size}).encode() for i, size in enumerate([1, -1, 3])
    ]
    valid, rejected, X = decode([LeadMessage("leads", 0, i, None, value) for i, value in enumerate(values)], MAX_BYTES)
    assert [lead.lead_id for _, lead in valid] == ["L0", "L2"] and len(rejected) == 1
    assert X[:, FEATURES.index("company_size")].tolist() == [1, 3]
