"""The hot path as plain functions: raw messages in, validated leads, assignments and dead letters out."""

import hashlib
import json
import operator
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import orjson
from pydantic import ValidationError

from models.events import DeadLetter, LeadEvent
from models.exceptions import SnapshotError
from models.snapshot import ModelSnapshot
from segmentation.features import FEATURES
from segmentation.segmenter import LeadSegmenter

__all__ = ["RawLead", "Rejected", "Routed", "ServingModel", "assign", "decode", "features_of"]

_EVENT_NAMESPACE = uuid.UUID("6f1f5a8e-5d1c-4c36-9f43-2f4b1c1f7a10")
_feature_values = operator.attrgetter(*FEATURES)
_WHITESPACE = b" \t\r\n"


def event_id(topic: str, partition: int, offset: int, version: int) -> str:
    """`uuid5(_EVENT_NAMESPACE, "topic/partition/offset/version")`, computed without building UUID objects.

    >>> event_id("leads", 0, 7, 3) == str(uuid.uuid5(_EVENT_NAMESPACE, "leads/0/7/3"))
    True
    """
    digest = bytearray(
        hashlib.sha1(_EVENT_NAMESPACE.bytes + f"{topic}/{partition}/{offset}/{version}".encode()).digest()
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class RawLead(NamedTuple):
    """One message as the transport delivered it."""

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
        self.segment_ids = [s.id for s in snapshot.segments]
        # The per-segment part of every output, built once per model rather than once per lead.
        self.segment_fields: list[dict[str, Any]] = [
            {"segment_id": s.id, "segment_name": s.name, "strategy": orjson.Fragment(s.strategy.model_dump_json())}
            for s in snapshot.segments
        ]


def decode(raws: Sequence[RawLead], max_bytes: int) -> tuple[list[tuple[RawLead, LeadEvent]], list[Rejected]]:
    """Validate each message: oversize, not UTF-8, not JSON or out of bounds go to `Rejected`."""
    valid: list[tuple[RawLead, LeadEvent]] = []
    rejected: list[Rejected] = []
    for raw in raws:
        value = raw.value or b""
        if len(value) > max_bytes:
            rejected.append(Rejected(raw, "oversize", f"{len(value)} bytes, more than {max_bytes}"))
            continue
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as error:
            rejected.append(Rejected(raw, "not_utf8", f"not UTF-8 at byte {error.start}"))
            continue
        try:
            event = LeadEvent.model_validate_json(value)
        except ValidationError as error:
            rejected.append(Rejected(raw, *_explain(error)))
            continue
        if repeated := _repeated_field(value):
            rejected.append(Rejected(raw, "invalid", f"{repeated}: given more than once"))
            continue
        valid.append((raw, event))
    return valid, rejected


def _repeated_field(value: bytes) -> str | None:
    """A field of `LeadEvent` that the JSON object gives twice. The validator keeps the last value and
    other parsers the first, so such an event means different things to different readers: refuse it.

    >>> _repeated_field(b'{"lead_id": "a", "company_size": 1, "company_size": -1}')
    'company_size'
    >>> _repeated_field(b'{"lead_id": "a", "extra": {"company_size": 5}, "company_size": 1}') is None
    True
    """
    try:
        distinct_keys = len(orjson.loads(value))
    except orjson.JSONDecodeError:
        distinct_keys = -1
    # Without whitespace every key, at any depth, ends in `":` (so do some strings): no more of those than
    # distinct top-level keys means no key is repeated. Decided in C, for nearly every event.
    if distinct_keys == value.translate(None, _WHITESPACE).count(b'":'):
        return None
    # Rarely here (nested objects, `":` inside strings): parse again, keeping every top-level key.
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


def features_of(leads: Sequence[tuple[RawLead, LeadEvent]]) -> np.ndarray:
    """The leads' feature matrix, columns in `FEATURES` order."""
    return np.array([_feature_values(event) for _, event in leads], dtype=np.float64).reshape(-1, len(FEATURES))


def assign(
    model: ServingModel,
    leads: Sequence[tuple[RawLead, LeadEvent]],
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
    features = model.snapshot.features
    top_features = [[features[j] for j in row] for row in result.top_features.tolist()]
    distances, confidences = result.distance.tolist(), result.confidence.tolist()
    outliers, segment_index = result.is_outlier.tolist(), result.segment.tolist()
    version, assigned_at = model.version, orjson.Fragment(orjson.dumps(now, option=orjson.OPT_UTC_Z))
    last = dict(previous)
    out = []
    for i, (raw, event) in enumerate(leads):
        fields = model.segment_fields[segment_index[i]]
        segment_id = fields["segment_id"]
        previous_id = last.get(event.lead_id)
        last[event.lead_id] = segment_id
        output = {
            "event_id": event_id(raw.topic, raw.partition, raw.offset, version),
            "lead_id": event.lead_id,
            **fields,
            "model_version": version,
            "distance": distances[i],
            "confidence": confidences[i],
            "top_features": top_features[i],
            "is_outlier": outliers[i],
            "previous_segment_id": previous_id,
            "occurred_at": event.occurred_at,
            "assigned_at": assigned_at,
        }
        out.append(Routed(event.lead_id, segment_id, previous_id, orjson.dumps(output, option=orjson.OPT_UTC_Z)))
    return out
