"""Raw lead messages in, valid leads (with their feature matrix) and rejected messages out; the same validation
for any other event read (`validated`)."""

import json
import operator
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import numpy as np
import orjson
from pydantic import BaseModel, ValidationError

from models.events import MAX_LEAD_ID_LENGTH, LeadEvent
from segmentation.features import BOUNDS, FEATURES
from streams.clients import RawLead
from streams.routing.dead_letters import Rejected

__all__ = ["Decoded", "Lead", "decode", "features_of", "validated"]

M = TypeVar("M", bound=BaseModel)

_feature_values = operator.attrgetter(*FEATURES)
_feature_items = operator.itemgetter(*FEATURES)
_NUMBERS = frozenset((int, float))
_INTEGERS = [i for i, name in enumerate(FEATURES) if BOUNDS[name].integer]
_LOW = np.array([BOUNDS[name].low for name in FEATURES])
_HIGH = np.array([BOUNDS[name].high for name in FEATURES])
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)")
_WHITESPACE = b" \t\r\n"


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
    event = validated(raw, max_bytes, LeadEvent)
    if isinstance(event, Rejected):
        return event
    return Lead(event.lead_id, event.occurred_at, _feature_values(event))


def validated(raw: RawLead, max_bytes: int, model: type[M]) -> M | Rejected:
    """One message as `model` (an event with unknown fields ignored), or why it was refused: the classes and
    reasons of a bad lead's dead letter, for every topic read."""
    value = raw.value or b""
    if len(value) > max_bytes:
        return Rejected(raw, "oversize", f"{len(value)} bytes, more than {max_bytes}")
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as error:
        return Rejected(raw, "not_utf8", f"not UTF-8 at byte {error.start}")
    try:
        event = model.model_validate_json(value)
    except ValidationError as error:
        return Rejected(raw, *_explain(error))
    if repeated := _repeated_field(value, model):
        return Rejected(raw, "invalid", f"{repeated}: given more than once")
    return event


def _repeated_field(value: bytes, model: type[BaseModel] = LeadEvent) -> str | None:
    """A field of `model` that the JSON object gives twice. The validator keeps the last value and
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
        return next((name for name in model.model_fields if value.count(f'"{name}"'.encode()) > 1), "lead_id")
    top = Counter(key for key, _ in objects[0])
    return next((name for name in model.model_fields if top[name] > 1), None)


def _explain(error: ValidationError) -> tuple[str, str]:
    first = error.errors(include_url=False)[0]
    if first["type"] in ("json_invalid", "json_type"):
        return "not_json", f"not a JSON object: {first['msg']}"
    where = ".".join(str(part) for part in first["loc"]) or "event"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return "invalid", f"{where}: {first['msg']}{more}"


def features_of(leads: Sequence[tuple[RawLead, Lead]]) -> np.ndarray:
    """The leads' feature matrix, columns in `FEATURES` order."""
    return np.array([lead.features for _, lead in leads], dtype=np.float64).reshape(-1, len(FEATURES))
