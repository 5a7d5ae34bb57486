"""Is a new JSON Schema backward compatible with the old one, as a schema registry in BACKWARD mode judges it?

BACKWARD: a consumer using the new schema can read every message written with the old one. So the new schema
must accept all the old one accepted, and must not lose a field consumers read:

- a field added as optional is fine; one added as required, an optional field made required, a field removed
  (a consumer reading it would break), or a field retyped is not;
- enum and const: widening (a value added) is fine for a reader, narrowing is not;
- bounds (minimum, maximum, lengths, item counts) may loosen, not tighten; closing an open object
  (`additionalProperties: false`) is a narrowing too;
- `anyOf`/`oneOf` branches (nullable fields, discriminated unions) may be added, not removed.

`$ref`s are resolved against each schema's own `$defs`. Keywords it does not know (titles, descriptions,
defaults, examples) are ignored.

>>> old = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
>>> new = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["a"]}
>>> incompatibilities(old, new)
[]
>>> incompatibilities(new, old)
['b: removed']
"""

from collections.abc import Iterable
from typing import Any

__all__ = ["incompatibilities"]

Schema = dict[str, Any]

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_ANNOTATIONS = {"title", "description", "default", "examples", "$comment", "$defs"}
_MISSING = object()


def incompatibilities(old: Schema, new: Schema) -> list[str]:
    """Why a reader on `new` could not read what was written with `old`, one line per reason, each starting
    with the path of the field (`$` for the top level); empty if the change is backward compatible."""
    return list(_compare(old, old, new, new, "$"))


def _resolve(schema: Schema, root: Schema) -> Schema:
    seen = 0
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/") or seen > 50:
            raise ValueError(f"unsupported $ref {ref!r}: only local references (#/...) are followed")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        rest = {key: value for key, value in schema.items() if key != "$ref"}
        schema = {**target, **rest}
        seen += 1
    return schema


def _branches(schema: Schema, root: Schema) -> list[Schema]:
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            rest = {k: v for k, v in schema.items() if k not in (key, "discriminator")}
            return [b for branch in schema[key] for b in _branches({**rest, **branch}, root)]
    return [schema]


def _types(schema: Schema) -> set[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    return {declared} if isinstance(declared, str) else set(declared)


def _values(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _join(path: str, name: str) -> str:
    return name if path == "$" else f"{path}.{name}"


def _describe(schema: Schema) -> str:
    values = _values(schema)
    if values is not None:
        return " | ".join(repr(v) for v in values)
    return schema.get("title") or "/".join(sorted(_types(schema) or {"any"}))


def _compare(old: Schema, old_root: Schema, new: Schema, new_root: Schema, path: str) -> Iterable[str]:
    old_branches, new_branches = _branches(old, old_root), _branches(new, new_root)
    if len(old_branches) == 1 and len(new_branches) == 1:
        yield from _compare_one(old_branches[0], old_root, new_branches[0], new_root, path)
        return
    for branch in old_branches:
        problems = [list(_compare_one(branch, old_root, other, new_root, path)) for other in new_branches]
        if any(not found for found in problems):
            continue  # some branch of the new schema reads it
        same_title = "title" in branch and any(other.get("title") == branch["title"] for other in new_branches)
        if same_title:
            title = branch["title"]
            where = title if path == "$" else f"{path}({title})"
            new_branch = next(other for other in new_branches if other.get("title") == title)
            yield from _compare_one(branch, old_root, new_branch, new_root, where)
        else:
            yield f"{path}: {_describe(branch)} is no longer accepted"


def _compare_one(old: Schema, old_root: Schema, new: Schema, new_root: Schema, path: str) -> Iterable[str]:
    if not set(new) - _ANNOTATIONS:
        return  # the new schema accepts anything
    old_types, new_types = _types(old), _types(new)
    if new_types is not None:
        readable = new_types | ({"integer"} if "number" in new_types else set())
        lost = (old_types or {"any"}) - readable
        if lost:
            before = "/".join(sorted(old_types or {"any"}))
            yield f"{path}: retyped from {before} to {'/'.join(sorted(new_types))}"
            return
    old_values, new_values = _values(old), _values(new)
    if new_values is not None:
        if old_values is None:
            yield f"{path}: now restricted to {_describe(new)}"
        else:
            dropped = [value for value in old_values if value not in new_values]
            if dropped:
                yield f"{path}: no longer accepts {', '.join(repr(v) for v in dropped)}"
    yield from _bounds(old, new, path)
    if old.get("format") != new.get("format") and new.get("format") is not None:
        yield f"{path}: format {old.get('format')!r} became {new['format']!r}"
    yield from _objects(old, old_root, new, new_root, path)
    if "items" in old or "items" in new:
        yield from _compare(old.get("items", {}), old_root, new.get("items", {}), new_root, f"{path}[]")


def _bounds(old: Schema, new: Schema, path: str) -> Iterable[str]:
    for keys, tighter in ((_LOWER_BOUNDS, lambda o, n: n > o), (_UPPER_BOUNDS, lambda o, n: n < o)):
        for key in keys:
            before, after = old.get(key, _MISSING), new.get(key, _MISSING)
            if after is _MISSING:
                continue
            if before is _MISSING or tighter(before, after):
                was = "none" if before is _MISSING else before
                yield f"{path}: {key} tightened from {was} to {after}"


def _objects(old: Schema, old_root: Schema, new: Schema, new_root: Schema, path: str) -> Iterable[str]:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
    for name in old_props:
        if name not in new_props:
            yield f"{_join(path, name)}: removed"
    for name in sorted(new_required - old_required):
        if name in old_props:
            yield f"{_join(path, name)}: optional field made required"
        else:
            yield f"{_join(path, name)}: added as a required field"
    for name, schema in old_props.items():
        if name in new_props:
            yield from _compare(schema, old_root, new_props[name], new_root, _join(path, name))
    if (
        new.get("additionalProperties") is False
        and old.get("additionalProperties") is not False
        and "object" in (_types(old) or {"object"})
    ):
        yield f"{path}: closed to fields it does not list (additionalProperties: false)"
