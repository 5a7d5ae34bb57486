"""A batch of valid leads and one model in, one `SegmentAssigned` JSON per lead out, with its event id and arm (a
holdout lead gets the model's baseline campaign), and a `SegmentTransition` JSON for each lead that moved."""

import hashlib
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from itertools import repeat
from typing import NamedTuple

import numpy as np
import orjson

from segmentation.holdout import HoldoutDraw
from segmentation.segmenter import Assignment
from streams.clients import RawLead
from streams.model_plane import ServingModel
from streams.routing.decode import Lead, features_of

__all__ = ["Routed", "assign", "event_id", "event_source", "transition_source"]

_EVENT_NAMESPACE = uuid.UUID("6f1f5a8e-5d1c-4c36-9f43-2f4b1c1f7a10")
_TRANSITION_NAMESPACE = uuid.UUID("0b7e4f1c-2a9d-4e3b-8c55-7d1e6a4f9b22")
_REASONS = {"retired": "segment_retired", "split": "segment_split", "merged": "segment_merged"}
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}  # a hex digit with RFC 4122's bits


def event_source(topic: str, partition: int) -> bytes:
    """What the event ids of one topic partition share, for `event_id`."""
    return _EVENT_NAMESPACE.bytes + f"{topic}/{partition}/".encode()


def transition_source(topic: str, partition: int) -> bytes:
    """What the transition event ids of one topic partition share: `event_id` in another namespace, so that a
    transition's id differs from its assignment's."""
    return _TRANSITION_NAMESPACE.bytes + f"{topic}/{partition}/".encode()


def event_id(source: bytes, offset: int, version: int) -> str:
    """`uuid5(_EVENT_NAMESPACE, "topic/partition/offset/version")` for `source = event_source(topic, partition)`:
    one SHA-1 and a format, no UUID objects.

    >>> event_id(event_source("leads", 0), 7, 3) == str(uuid.uuid5(_EVENT_NAMESPACE, "leads/0/7/3"))
    True
    """
    h = hashlib.sha1(source + b"%d/%d" % (offset, version)).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


class Routed(NamedTuple):
    """One assignment: what the previous segments need, the `SegmentAssigned` JSON to publish and, for a lead
    that moved, its `SegmentTransition` JSON."""

    lead_id: str
    segment_id: int
    previous_segment_id: int | None
    value: bytes
    transition: bytes | None = None  # the `SegmentTransition` JSON, if the lead moved

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
    margin: float = 0.0,
    holdout: HoldoutDraw | None = None,
) -> list[Routed]:
    """Assign a batch in one vectorized pass and serialize each result as a `SegmentAssigned`;
    `previous` maps lead_id to its last segment id (a lead seen twice in the batch gets the first
    assignment as its previous segment). `X` is `features_of(leads)` if the caller has it already. A lead whose
    previous segment differs also gets a transition, whose reason comes from the model's lineage (`_origins`).
    With `margin` > 0, a lead whose previous segment this model serves stays in it unless the nearest segment is
    more than `margin` closer (hysteresis, `LeadSegmenter.assign`); one whose previous segment it no longer serves
    (retired, split, merged) goes to the nearest. A lead `holdout` puts in the holdout is assigned its segment
    all the same, but its strategy is the model's baseline campaign."""
    if not leads:
        return []
    X = features_of(leads) if X is None else X
    result = _held(model, leads, previous, X, margin) if margin > 0 else model.segmenter.assign(X)
    top_features = [model.top_features(row) for row in map(tuple, result.top_features.tolist())]
    distances, confidences = result.distance.tolist(), result.confidence.tolist()
    outliers, segment_index = result.is_outlier.tolist(), result.segment.tolist()
    version, assigned_at = model.version, orjson.Fragment(orjson.dumps(now, option=orjson.OPT_UTC_Z))
    sources: dict[tuple[str, int], bytes] = {}
    last = dict(previous)
    out = []
    origins: dict[int, tuple[str | None, str, int | None]] | None = None
    held = holdout.held([lead.lead_id for _, lead in leads]) if holdout is not None else [False] * len(leads)
    baseline: orjson.Fragment | None = None
    for i, ((raw, lead), in_holdout) in enumerate(zip(leads, held, strict=True)):
        segment_id, segment_name, strategy = model.segments[segment_index[i]]
        arm = "segmented"
        if in_holdout:
            if baseline is None:
                baseline = orjson.Fragment(model.snapshot.baseline.strategy.model_dump_json())
            strategy, arm = baseline, "holdout"
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
            "arm": arm,
            "model_version": version,
            "distance": distances[i],
            "confidence": confidences[i],
            "top_features": top_features[i],
            "is_outlier": outliers[i],
            "previous_segment_id": previous_id,
            "occurred_at": lead.occurred_at,
            "assigned_at": assigned_at,
        }
        value = orjson.dumps(output, option=orjson.OPT_UTC_Z)
        if previous_id is None or previous_id == segment_id:
            out.append(Routed(lead.lead_id, segment_id, previous_id, value))
            continue
        if origins is None:
            origins = _origins(model)
        from_name, reason, from_version = origins.get(previous_id, _UNKNOWN)
        transition = {
            "event_id": event_id(transition_source(raw.topic, raw.partition), raw.offset, version),
            "lead_id": lead.lead_id,
            "from_segment_id": previous_id,
            "from_segment_name": from_name,
            "to_segment_id": segment_id,
            "to_segment_name": segment_name,
            "from_model_version": from_version,
            "to_model_version": version,
            "reason": reason,
            "occurred_at": lead.occurred_at,
        }
        moved = orjson.dumps(transition, option=orjson.OPT_UTC_Z)
        out.append(Routed(lead.lead_id, segment_id, previous_id, value, moved))
    return out


def _held(
    model: ServingModel,
    leads: Sequence[tuple[RawLead, Lead]],
    previous: Mapping[str, int],
    X: np.ndarray,
    margin: float,
) -> Assignment:
    """The assignment with hysteresis: each lead held by its previous segment if this model serves it, a lead seen
    again in the batch by its own earlier row's segment (one more vectorized pass per repeat)."""
    ids = [lead.lead_id for _, lead in leads]
    index_of = model.index_of
    held = (
        np.fromiter(map(index_of.get, map(previous.get, ids, repeat(-1)), repeat(-1)), np.intp, len(ids))
        if previous
        else None
    )
    result = model.segmenter.assign(X, previous=held, margin=margin)
    if len(set(ids)) == len(ids):
        return result
    earlier, rank = _repeats(ids)
    for r in range(1, int(rank.max()) + 1):
        rows = np.flatnonzero(rank == r)
        again = model.segmenter.assign(X[rows], previous=result.segment[earlier[rows]], margin=margin)
        for field in fields(Assignment):
            getattr(result, field.name)[rows] = getattr(again, field.name)
    return result


def _repeats(ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the row where the same lead last came before in the batch (-1: none) and how many times it did."""
    seen: dict[str, int] = {}
    earlier, rank = [-1] * len(ids), [0] * len(ids)
    for row, lead_id in enumerate(ids):
        if (before := seen.get(lead_id)) is not None:
            earlier[row], rank[row] = before, rank[before] + 1
        seen[lead_id] = row
    return np.array(earlier), np.array(rank)


_UNKNOWN: tuple[str | None, str, int | None] = (None, "segment_retired", None)
_ORIGINS: "weakref.WeakKeyDictionary[ServingModel, dict[int, tuple[str | None, str, int | None]]]" = (
    weakref.WeakKeyDictionary()
)


def _origins(model: ServingModel) -> dict[int, tuple[str | None, str, int | None]]:
    """Per segment id a lead can come from: its name, the reason of a move out of it, and the version that last
    served it. A segment this model serves: `lead_changed`, this version. One its lineage retired, split or
    merged: that reason and the version it was served in (the refit's `served_version`). An id neither knows
    (retired before): `segment_retired`, no name or version. Built once per model, on its first transition."""
    if (found := _ORIGINS.get(model)) is None:
        snapshot = model.snapshot
        before = snapshot.gate.served_version if snapshot.gate else None
        found = {e.segment_id: (e.name, _REASONS[e.kind], before) for e in snapshot.lineage or () if e.kind in _REASONS}
        found |= {s.id: (s.name, "lead_changed", model.version) for s in snapshot.segments}
        _ORIGINS[model] = found
    return found
