"""Hostile lead events from a seeded generator: every kind of input the worker must dead-letter, each
derived from a valid lead so that exactly one thing is wrong with it."""

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from segmentation.features import BOUNDS

__all__ = ["BROKER_DEFAULT_BYTES", "Hostile", "hostile_events"]

BROKER_DEFAULT_BYTES = 1_000_000  # a little under Kafka's default message.max.bytes (1,048,588)
_COUNTS = [name for name, bound in BOUNDS.items() if bound.kind == "count"]
_RATES = [name for name, bound in BOUNDS.items() if bound.high == 1]
_BIG = {"huge_string": 6, "beyond_broker_default": 3}  # how many of the large kinds (they cost megabytes)


@dataclass(frozen=True)
class Hostile:
    kind: str
    lead_id: str  # the lead id it was made from, whether or not it still carries it
    key: bytes | None
    value: bytes | None


Lead = dict[str, Any]
Maker = Callable[[random.Random, Lead], bytes | None]


def _dump(lead: object) -> bytes:
    return json.dumps(lead).encode()


def _with(lead: Lead, name: str, raw: str) -> bytes:
    """`lead` with field `name` written as the raw JSON text `raw` (which json.dumps would refuse)."""
    return _dump(lead | {name: "@@"}).replace(b'"@@"', raw.encode(), 1)


def _feature(rng: random.Random) -> str:
    return rng.choice(sorted(BOUNDS))


def _not_utf8(rng: random.Random, lead: Lead) -> bytes:
    if rng.random() < 0.5:
        return b"\xff" + rng.randbytes(rng.randint(0, 200))
    return json.dumps(lead | {"lead_id": f"{lead['lead_id']}-café"}, ensure_ascii=False).encode("latin-1")


def _not_json(rng: random.Random, lead: Lead) -> bytes:
    text = _dump(lead)
    return rng.choice(
        [
            text[: rng.randint(0, len(text) - 1)],  # truncated, or empty
            text.replace(b'"', b"'"),
            text[:-1] + b",}",
            bytes(rng.choices(range(32, 127), k=rng.randint(1, 300))),
        ]
    )


def _not_an_object(rng: random.Random, lead: Lead) -> bytes:
    return rng.choice([b"[]", _dump([lead]), b"42", b'"lead"', b"null", b"true"])


def _wrong_type(rng: random.Random, lead: Lead) -> bytes:
    name = rng.choice([*sorted(BOUNDS), "lead_id"])
    wrong: list[object] = [12] if name == "lead_id" else ["12", "NaN"]  # a number for text, text for numbers
    return _dump(lead | {name: rng.choice([*wrong, True, None, [1], {"value": 1}, []])})


def _missing_field(rng: random.Random, lead: Lead) -> bytes:
    dropped = set(rng.sample([*sorted(BOUNDS), "lead_id"], rng.randint(1, 3)))
    return _dump({name: value for name, value in lead.items() if name not in dropped})


def _non_finite(rng: random.Random, lead: Lead) -> bytes:
    return _with(lead, _feature(rng), rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]))


def _negative_count(rng: random.Random, lead: Lead) -> bytes:
    return _dump(lead | {rng.choice(_COUNTS): -rng.choice([1, 5, 1000, 1e9])})


def _rate_above_one(rng: random.Random, lead: Lead) -> bytes:
    return _dump(lead | {rng.choice(_RATES): 1 + rng.choice([1e-9, 0.01, 0.5, 99])})


def _out_of_range(rng: random.Random, lead: Lead) -> bytes:
    name, value = rng.choice([("decision_maker_level", 0), ("decision_maker_level", 6), ("engagement_score", 100.5)])
    return _dump(lead | {name: value})


def _huge_string(rng: random.Random, lead: Lead) -> bytes:
    name = rng.choice([*sorted(BOUNDS), "lead_id", "notes"])
    return _dump(lead | {name: "x" * (BROKER_DEFAULT_BYTES - 1000)})


def _beyond_broker_default(rng: random.Random, lead: Lead) -> bytes:
    return _dump(lead | {"notes": "y" * rng.randint(3 * BROKER_DEFAULT_BYTES // 2, 3 * BROKER_DEFAULT_BYTES)})


def _deeply_nested(rng: random.Random, lead: Lead) -> bytes:
    depth = rng.randint(300, 30_000)
    return _with(lead, rng.choice([*sorted(BOUNDS), "notes"]), "[" * depth + "]" * depth)


def _duplicate_keys(rng: random.Random, lead: Lead) -> bytes:
    """A field twice, one value valid and one not, in either order: JSON parsers disagree on which counts."""
    name = rng.choice(_COUNTS)
    valid, invalid = json.dumps(lead[name]), "-1"
    first, last = (invalid, valid) if rng.random() < 0.5 else (valid, invalid)
    fields = [f"{json.dumps(key)}: {json.dumps(value)}" for key, value in lead.items() if key != name]
    return ("{" + ", ".join([f'"{name}": {first}', *fields, f'"{name}": {last}']) + "}").encode()


def _empty_key(rng: random.Random, lead: Lead) -> bytes:
    return _dump(lead | {"lead_id": ""})


def _tombstone(rng: random.Random, lead: Lead) -> None:
    return None


def _long_lead_id(rng: random.Random, lead: Lead) -> bytes:
    return _dump(lead | {"lead_id": lead["lead_id"] + "z" * rng.randint(129, 300)})


_SMALL: dict[str, Maker] = {
    "not_utf8": _not_utf8,
    "not_json": _not_json,
    "not_an_object": _not_an_object,
    "wrong_type": _wrong_type,
    "missing_field": _missing_field,
    "non_finite": _non_finite,
    "negative_count": _negative_count,
    "rate_above_one": _rate_above_one,
    "out_of_range": _out_of_range,
    "deeply_nested": _deeply_nested,
    "duplicate_keys": _duplicate_keys,
    "empty_key": _empty_key,
    "tombstone": _tombstone,
    "long_lead_id": _long_lead_id,
}
_LARGE: dict[str, Maker] = {"huge_string": _huge_string, "beyond_broker_default": _beyond_broker_default}


def _key(rng: random.Random, kind: str, lead_id: str) -> bytes | None:
    if kind == "empty_key":
        return b""
    if kind == "tombstone":  # a message without a value needs a key
        return lead_id.encode()
    return rng.choice([lead_id.encode(), lead_id.encode(), None, b"\xff\xfe" + rng.randbytes(6)])


def hostile_events(n: int, seed: int, valid: Lead) -> list[Hostile]:
    """`n` hostile events made from the `valid` lead (lead ids `H00000`...), in random order."""
    rng = random.Random(seed)
    kinds = [kind for kind, count in _BIG.items() for _ in range(count)]
    kinds += [rng.choice(sorted(_SMALL)) for _ in range(n - len(kinds))]
    rng.shuffle(kinds)
    makers = _SMALL | _LARGE
    events = []
    for i, kind in enumerate(kinds):
        lead = valid | {"lead_id": f"H{i:05d}"}
        events.append(Hostile(kind, lead["lead_id"], _key(rng, kind, lead["lead_id"]), makers[kind](rng, lead)))
    return events
