"""The backward-compatibility rule of `scripts/schema_compat.py`, case by case (docs/events.md, Schemas)."""

from typing import Any

import pytest

from scripts.schema_compat import incompatibilities

BASE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "lead_id": {"type": "string", "maxLength": 128},
        "score": {"type": "number", "minimum": 0, "maximum": 100},
        "level": {"type": "integer"},
        "arm": {"enum": ["segmented", "holdout"], "type": "string"},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["lead_id", "score", "level", "arm", "tags"],
}


def changed(**properties: Any) -> dict[str, Any]:
    """BASE with some properties replaced (None: removed); `required=` replaces the required list."""
    required = properties.pop("required", BASE["required"])
    props = {name: schema for name, schema in (BASE["properties"] | properties).items() if schema is not None}
    return BASE | {"properties": props, "required": [name for name in required if name in props]}


def test_the_same_schema_is_compatible() -> None:
    assert incompatibilities(BASE, BASE) == []


def test_an_optional_field_added_is_compatible() -> None:
    assert incompatibilities(BASE, changed(source={"type": "string"})) == []


def test_a_required_field_added_is_not() -> None:
    new = changed(source={"type": "string"}, required=[*BASE["required"], "source"])
    assert incompatibilities(BASE, new) == ["source: added as a required field"]


def test_an_optional_field_made_required_is_not() -> None:
    assert incompatibilities(BASE, changed(required=[*BASE["required"], "note"])) == [
        "note: optional field made required"
    ]


def test_a_field_removed_is_not() -> None:
    assert incompatibilities(BASE, changed(level=None)) == ["level: removed"]


@pytest.mark.parametrize(
    ("field", "schema", "expected"),
    [
        ("level", {"type": "string"}, "level: retyped from integer to string"),
        ("score", {"type": "integer", "minimum": 0, "maximum": 100}, "score: retyped from number to integer"),
        ("tags", {"type": "array", "items": {"type": "integer"}}, "tags[]: retyped from string to integer"),
        ("lead_id", {"type": "object"}, "lead_id: retyped from string to object"),
    ],
)
def test_a_field_retyped_is_not(field: str, schema: dict[str, Any], expected: str) -> None:
    assert incompatibilities(BASE, changed(**{field: schema})) == [expected]


def test_an_integer_read_as_a_number_is_compatible() -> None:
    assert incompatibilities(BASE, changed(level={"type": "number"})) == []


def test_an_enum_narrowed_is_not_and_widened_is() -> None:
    narrowed = changed(arm={"enum": ["segmented"], "type": "string"})
    assert incompatibilities(BASE, narrowed) == ["arm: no longer accepts 'holdout'"]
    widened = changed(arm={"enum": ["segmented", "holdout", "control"], "type": "string"})
    assert incompatibilities(BASE, widened) == []
    assert incompatibilities(BASE, changed(level={"type": "integer", "enum": [1, 2]})) == [
        "level: now restricted to 1 | 2"
    ]


def test_bounds_may_loosen_but_not_tighten() -> None:
    assert incompatibilities(BASE, changed(score={"type": "number", "minimum": 0})) == []
    assert incompatibilities(BASE, changed(lead_id={"type": "string", "maxLength": 64})) == [
        "lead_id: maxLength tightened from 128 to 64"
    ]
    assert incompatibilities(BASE, changed(level={"type": "integer", "minimum": 1})) == [
        "level: minimum tightened from none to 1"
    ]


def test_null_may_be_allowed_but_not_disallowed() -> None:
    assert incompatibilities(BASE, changed(level={"anyOf": [{"type": "integer"}, {"type": "null"}]})) == []
    assert incompatibilities(BASE, changed(note={"type": "string"})) == ["note: null is no longer accepted"]


def test_closing_an_open_object_is_not_compatible() -> None:
    assert incompatibilities(BASE, BASE | {"additionalProperties": False}) == [
        "$: closed to fields it does not list (additionalProperties: false)"
    ]


def union(*commands: dict[str, Any]) -> dict[str, Any]:
    """A discriminated union through `$defs`, as pydantic writes one."""
    defs = {c["title"]: c for c in commands}
    return {
        "$defs": defs,
        "discriminator": {"propertyName": "command"},
        "oneOf": [{"$ref": f"#/$defs/{name}"} for name in defs],
    }


def command(name: str, required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    props = {"command": {"const": name, "type": "string"}} | properties
    return {
        "title": name.title(),
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "required": ["command", *required],
    }


def test_union_members_may_be_added_not_removed_nor_made_stricter() -> None:
    refit, pin = command("refit"), command("pin", ("version",), version={"type": "integer"})
    old = union(refit, pin)
    assert incompatibilities(old, union(refit, pin, command("status"))) == []
    assert incompatibilities(old, union(refit)) == ["$: Pin is no longer accepted"]
    stricter = command("refit", ("deadline",), deadline={"type": "string"})
    assert incompatibilities(old, union(stricter, pin)) == ["Refit.deadline: added as a required field"]
    looser = command("refit", (), deadline={"type": "string"})
    assert incompatibilities(old, union(looser, pin)) == []


def test_a_nested_model_through_ref_is_compared_field_by_field() -> None:
    def with_strategy(strategy: dict[str, Any]) -> dict[str, Any]:
        return {
            "$defs": {"Strategy": strategy},
            "type": "object",
            "properties": {"strategy": {"$ref": "#/$defs/Strategy"}},
            "required": ["strategy"],
        }

    old = with_strategy({"type": "object", "properties": {"channel": {"type": "string"}}, "required": ["channel"]})
    new = with_strategy({"type": "object", "properties": {}, "required": []})
    assert incompatibilities(old, new) == ["strategy.channel: removed"]


def test_a_schema_that_accepts_anything_reads_everything() -> None:
    assert incompatibilities(BASE, {"title": "anything", "description": "raw bytes"}) == []
    assert incompatibilities({"description": "raw bytes"}, BASE) == ["$: retyped from any to object"]
