"""The hot path as plain functions: raw messages in, validated leads, assignments and dead letters out."""

import hashlib
import json
import operator
import re
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import numpy as np
import orjson
from pydantic import ValidationError

from models.events import MAX_LEAD_ID_LENGTH, DeadLetter, LeadEvent
from models.exceptions import SnapshotError
from models.snapshot import ModelSnapshot
from segmentation.features import BOUNDS, FEATURES
from segmentation.segmenter import LeadSegmenter

__all__ = [
    "Decoded",
    "Lead",
    "LeadMessage",
    "RawLead",
    "Rejected",
    "Routed",
    "ServingModel",
    "assign",
    "decode",
    "features_of",
]

_EVENT_NAMESPACE = uuid.UUID("6f1f5a8e-5d1c-4c36-9f43-2f4b1c1f7a10")
_feature_values = operator.attrgetter(*FEATURES)
_feature_items = operator.itemgetter(*FEATURES)
_NUMBERS = frozenset((int, float))
_INTEGERS = [i for i, name in enumerate(FEATURES) if BOUNDS[name].integer]
_LOW = np.array([BOUNDS[name].low for name in FEATURES])
_HIGH = np.array([BOUNDS[name].high for name in FEATURES])
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)")
_WHITESPACE = b" \t\r\n"
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}  # a hex digit with RFC 4122's bits


def event_source(topic: str, partition: int) -> bytes:
    """What the event ids of one topic partition share, for `event_id`."""
    return _EVENT_NAMESPACE.bytes + f"{topic}/{partition}/".encode()


def event_id(source: bytes, offset: int, version: int) -> str:
    """`uuid5(_EVENT_NAMESPACE, "topic/partition/offset/version")` for `source = event_source(topic, partition)`:
    one SHA-1 and a format, no UUID objects.

    >>> event_id(event_source("leads", 0), 7, 3) == str(uuid.uuid5(_EVENT_NAMESPACE, "leads/0/7/3"))
    True
    """
    h = hashlib.sha1(source + b"%d/%d" % (offset, version)).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


class RawLead(Protocol):
    """One message as the transport delivered it (aiokafka's `ConsumerRecord` is one, as is `LeadMessage`)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class LeadMessage(NamedTuple):
    """A `RawLead` built from another transport's message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Rejected:
    """A message that cannot be assigned, and why."""

    raw: RawLead
    error_class: str
    reason: str

    def dead_letter(self, model_version: int | None) -> DeadLetter:
        return DeadLetter(
            source_topic=self.raw.topic,
            source_partition=self.raw.partition,
            source_offset=self.raw.offset,
            error_class=self.error_class,
            reason=self.reason[:1000],
            model_version=model_version,
        )


class ServingModel:
    """A model artifact made ready to assign: the fitted segmenter plus per-segment outputs."""

    def __init__(self, snapshot: ModelSnapshot) -> None:
        if tuple(snapshot.features) != FEATURES:
            raise SnapshotError(f"model {snapshot.version} has features {snapshot.features}, not {list(FEATURES)}")
        self.snapshot = snapshot
        self.version = snapshot.version
        self.segmenter: LeadSegmenter = snapshot.to_segmenter()
        # The parts of every output that repeat, serialized once per model rather than once per lead:
        # per segment (id, name, strategy), and each list of top features as it first occurs.
        self.segments = [(s.id, s.name, orjson.Fragment(s.strategy.model_dump_json())) for s in snapshot.segments]
        self._top_features: dict[tuple[int, ...], orjson.Fragment] = {}

    def top_features(self, indices: tuple[int, ...]) -> orjson.Fragment:
        """The JSON list of the features at `indices`."""
        if (names := self._top_features.get(indices)) is None:
            names = self._top_features[indices] = orjson.Fragment(orjson.dumps([FEATURES[i] for i in indices]))
        return names


class Lead(NamedTuple):
    """A valid lead, as routing uses it: what `LeadEvent` would give, features in `FEATURES` order."""

    lead_id: str
    occurred_at: datetime | None
    features: tuple[float, ...]


class Decoded(NamedTuple):
    """A batch sorted out: the valid leads in input order, their feature matrix, and the rejected messages."""

    valid: list[tuple[RawLead, Lead]]
    rejected: list[Rejected]
    X: np.ndarray


def decode(raws: Sequence[RawLead], max_bytes: int) -> Decoded:
    """Validate each message: oversize, not UTF-8, not JSON or out of bounds go to `Rejected`.

    `LeadEvent` decides; the usual event is accepted without it (`_plain_lead`, one orjson parse and the
    batch's bounds in one numpy comparison), and every other goes to the validator, which also says why."""
    plain = [_plain_lead(raw.value, max_bytes) for raw in raws]
    candidates = [i for i, lead in enumerate(plain) if lead is not None]
    X = np.array([lead.features for lead in plain if lead is not None], dtype=np.float64).reshape(-1, len(FEATURES))
    if out_of_bounds := np.flatnonzero(((X < _LOW) | (X > _HIGH)).any(axis=1)).tolist():
        for j in out_of_bounds:
            plain[candidates[j]] = None
        X = np.delete(X, out_of_bounds, axis=0)
    valid: list[tuple[RawLead, Lead]] = []
    rejected: list[Rejected] = []
    for raw, lead in zip(raws, plain, strict=True):
        outcome = lead if lead is not None else _validate(raw, max_bytes)
        if isinstance(outcome, Rejected):
            rejected.append(outcome)
        else:
            valid.append((raw, outcome))
    if len(valid) != len(X):  # the validator accepted some: they take their places among the others
        X = features_of(valid)
    return Decoded(valid, rejected, X)


def _plain_lead(value: bytes | None, max_bytes: int) -> Lead | None:
    """The lead in `value` if it is plainly one `LeadEvent` accepts, bounds aside (the caller checks them);
    None when only the validator can tell: a missing, mistyped or repeated field, an unusual timestamp, bad JSON.
    """
    if value is None or len(value) > max_bytes:
        return None
    try:
        fields = orjson.loads(value)  # also refuses what is not UTF-8
    except orjson.JSONDecodeError:
        return None
    if type(fields) is not dict:
        return None
    try:
        features = _feature_items(fields)
    except KeyError:
        return None
    lead_id, occurred_at = fields.get("lead_id"), fields.get("occurred_at")
    if type(lead_id) is not str or not 0 < len(lead_id) <= MAX_LEAD_ID_LENGTH:
        return None
    # Exactly int or float (bool is an int to Python, not to the validator), and an int where one is required.
    if not _NUMBERS.issuperset(map(type, features)) or not all(type(features[i]) is int for i in _INTEGERS):
        return None
    if occurred_at is not None and (occurred_at := _rfc3339(occurred_at)) is None:
        return None
    if not _keys_given_once(value, len(fields)):
        return None
    return Lead(lead_id, occurred_at, features)


def _keys_given_once(value: bytes, distinct_keys: int) -> bool:
    """True if no key of the JSON object `value` can be given twice. Without whitespace every key, at any depth,
    ends in `":` (so do some strings): no more of those than distinct top-level keys means none is repeated."""
    return distinct_keys == value.translate(None, _WHITESPACE).count(b'":')


def _rfc3339(value: object) -> datetime | None:
    """The timestamp in the common RFC 3339 form (`2026-11-27T10:15:30.5Z`, `...+02:00`), as the validator reads it."""
    if type(value) is not str or _RFC3339.fullmatch(value) is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # e.g. 2026-02-30: the validator explains
        return None


def _validate(raw: RawLead, max_bytes: int) -> Lead | Rejected:
    """The validator's verdict on one message, with the reason when it refuses it."""
    value = raw.value or b""
    if len(value) > max_bytes:
        return Rejected(raw, "oversize", f"{len(value)} bytes, more than {max_bytes}")
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as error:
        return Rejected(raw, "not_utf8", f"not UTF-8 at byte {error.start}")
    try:
        event = LeadEvent.model_validate_json(value)
    except ValidationError as error:
        return Rejected(raw, *_explain(error))
    if repeated := _repeated_field(value):
        return Rejected(raw, "invalid", f"{repeated}: given more than once")
    return Lead(event.lead_id, event.occurred_at, _feature_values(event))


def _repeated_field(value: bytes) -> str | None:
    """A field of `LeadEvent` that the JSON object gives twice. The validator keeps the last value and
    other parsers the first, so such an event means different things to different readers: refuse it.

    >>> _repeated_field(b'{"lead_id": "a", "company_size": 1, "company_size": -1}')
    'company_size'
    >>> _repeated_field(b'{"lead_id": "a", "extra": {"company_size": 5}, "company_size": 1}') is None
    True
    """
    try:
        if _keys_given_once(value, len(orjson.loads(value))):
            return None
    except orjson.JSONDecodeError:
        pass
    # Nested objects, `":` inside strings, or a repeated key: parse again, keeping every top-level key.
    objects: list[list[tuple[str, Any]]] = []  # the outermost object is the last one completed

    def keep(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        objects[:] = [pairs]
        return dict(pairs)

    try:
        json.loads(value, object_pairs_hook=keep)
    except (ValueError, RecursionError):  # parses for the validator but not here: refuse rather than guess
        return next((name for name in LeadEvent.model_fields if value.count(f'"{name}"'.encode()) > 1), "lead_id")
    top = Counter(key for key, _ in objects[0])
    return next((name for name in LeadEvent.model_fields if top[name] > 1), None)


def _explain(error: ValidationError) -> tuple[str, str]:
    first = error.errors(include_url=False)[0]
    if first["type"] in ("json_invalid", "json_type"):
        return "not_json", f"not a JSON object: {first['msg']}"
    where = ".".join(str(part) for part in first["loc"]) or "event"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return "invalid", f"{where}: {first['msg']}{more}"


class Routed(NamedTuple):
    """One assignment: what the state needs, and the `SegmentAssigned` JSON to publish."""

    lead_id: str
    segment_id: int
    previous_segment_id: int | None
    value: bytes


def features_of(leads: Sequence[tuple[RawLead, Lead]]) -> np.ndarray:
    """The leads' feature matrix, columns in `FEATURES` order."""
    return np.array([lead.features for _, lead in leads], dtype=np.float64).reshape(-1, len(FEATURES))


def assign(
    model: ServingModel,
    leads: Sequence[tuple[RawLead, Lead]],
    previous: Mapping[str, int],
    now: datetime,
    X: np.ndarray | None = None,
) -> list[Routed]:
    """Assign a batch in one vectorized pass and serialize each result as a `SegmentAssigned`;
    `previous` maps lead_id to its last segment id (a lead seen twice in the batch gets the first
    assignment as its previous segment). `X` is `features_of(leads)` if the caller has it already."""
    if not leads:
        return []
    result = model.segmenter.assign(features_of(leads) if X is None else X)
    top_features = [model.top_features(row) for row in map(tuple, result.top_features.tolist())]
    distances, confidences = result.distance.tolist(), result.confidence.tolist()
    outliers, segment_index = result.is_outlier.tolist(), result.segment.tolist()
    version, assigned_at = model.version, orjson.Fragment(orjson.dumps(now, option=orjson.OPT_UTC_Z))
    sources: dict[tuple[str, int], bytes] = {}
    last = dict(previous)
    out = []
    for i, (raw, lead) in enumerate(leads):
        segment_id, segment_name, strategy = model.segments[segment_index[i]]
        if (source := sources.get((raw.topic, raw.partition))) is None:
            source = sources[raw.topic, raw.partition] = event_source(raw.topic, raw.partition)
        previous_id = last.get(lead.lead_id)
        last[lead.lead_id] = segment_id
        output = {
            "event_id": event_id(source, raw.offset, version),
            "lead_id": lead.lead_id,
            "segment_id": segment_id,
            "segment_name": segment_name,
            "strategy": strategy,
            "model_version": version,
            "distance": distances[i],
            "confidence": confidences[i],
            "top_features": top_features[i],
            "is_outlier": outliers[i],
            "previous_segment_id": previous_id,
            "occurred_at": lead.occurred_at,
            "assigned_at": assigned_at,
        }
        out.append(Routed(lead.lead_id, segment_id, previous_id, orjson.dumps(output, option=orjson.OPT_UTC_Z)))
    return out
