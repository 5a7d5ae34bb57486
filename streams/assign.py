"""A batch of valid leads and one model in, one `SegmentAssigned` JSON per lead out, with its event id."""

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

import numpy as np
import orjson

from streams.decode import Lead, features_of
from streams.records import RawLead
from streams.serving import ServingModel

__all__ = ["Routed", "assign", "event_id", "event_source"]

_EVENT_NAMESPACE = uuid.UUID("6f1f5a8e-5d1c-4c36-9f43-2f4b1c1f7a10")
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


class Routed(NamedTuple):
    """One assignment: what the previous segments need, and the `SegmentAssigned` JSON to publish."""

    lead_id: str
    segment_id: int
    previous_segment_id: int | None
    value: bytes

    @property
    def moved(self) -> bool:
        """Whether the lead was in another segment before (a transition)."""
        return self.previous_segment_id is not None and self.previous_segment_id != self.segment_id


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
