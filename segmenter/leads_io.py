"""Leads from files with line-and-column errors, model files, and leads as the Kafka records the worker
reads; the file formats themselves are in `file_formats`."""

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from models.events import MAX_LEAD_ID_LENGTH, LeadEvent
from models.exceptions import SnapshotError
from models.snapshot import SCHEMA_VERSION, ModelSnapshot
from segmentation.features import FEATURES, find_violations
from segmenter.exceptions import InputFileError
from segmenter.file_formats import open_records, write_table

__all__ = ["LeadTable", "lead_records", "read_leads", "read_model", "write_leads"]

ID_COLUMN = "lead_id"
_KNOWN = frozenset((ID_COLUMN, *FEATURES))
_FEATURE_SET = frozenset(FEATURES)
_PLAIN = frozenset((str, int, float))  # exact types: not bool, which `_number` refuses


@dataclass(frozen=True)
class LeadTable:
    """Leads read from a file: ids, the feature matrix, carried columns, and what was dropped."""

    ids: list[str]
    X: np.ndarray
    extra: dict[str, list[str]]
    dropped: Counter[str]

    def __len__(self) -> int:
        return len(self.ids)


class _BadRow(Exception):
    """A row that cannot be read: `kind` names the problem for the dropped-rows count."""

    def __init__(self, column: str, kind: str, value: object) -> None:
        super().__init__(f"column {column}: {kind} ({value!r})")
        self.kind = kind


def read_leads(path: Path, *, drop_invalid: bool = False) -> LeadTable:
    """Read `lead_id` + the 12 features from `.csv` (`,` `;` tab or `|` separated, UTF-8 with or without a
    byte-order mark, or UTF-16), `.jsonl`/`.ndjson` or `.parquet`.

    A bad value raises `InputFileError` naming the line (a Parquet file: the row) and column; with
    `drop_invalid` the row is skipped and counted by reason instead.
    """
    records = open_records(path)
    _check_header(path, records.columns)
    ids: list[str] = []
    rows: list[list[float]] = []
    lines: list[int] = []
    carried: list[dict[str, str]] = []
    dropped: Counter[str] = Counter()
    seen: dict[str, int] = {}
    for line, record in records.rows:
        if records.decimal_comma:
            record = _decimal_points(record)
        try:
            lead_id, values = _parse(record, seen, line, records.unit)
        except _BadRow as bad:
            if not drop_invalid:
                raise InputFileError(f"{path}: {records.unit} {line}: {bad}; {_FIX}") from None
            dropped[bad.kind] += 1
            continue
        seen[lead_id] = line
        ids.append(lead_id)
        rows.append(values)
        lines.append(line)
        has_extra = len(record) > len(_KNOWN)  # every known column is there: more means extra ones
        carried.append({k: _text(v) for k, v in record.items() if k not in _KNOWN} if has_extra else {})
    names = list(dict.fromkeys(name for row in carried for name in row))
    extra = {name: [row.get(name, "") for row in carried] for name in names}
    X = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
    keep = np.ones(len(X), dtype=bool)
    for violation in find_violations(X):
        if not drop_invalid:
            raise InputFileError(f"{path}: {records.unit} {lines[violation.row]}: {violation.reason}; {_FIX}")
        if keep[violation.row]:
            dropped[f"{violation.column} out of range"] += 1
        keep[violation.row] = False
    if not keep.all():
        ids = [i for i, k in zip(ids, keep, strict=True) if k]
        extra = {name: [v for v, k in zip(col, keep, strict=True) if k] for name, col in extra.items()}
        X = X[keep]
    if not ids:
        if dropped:
            raise InputFileError(f"{path}: no valid leads: all {sum(dropped.values())} rows were dropped as invalid")
        raise InputFileError(f"{path}: no leads: the file has a header but no rows")
    return LeadTable(ids, X, extra, dropped)


_FIX = "fix the file, or pass --drop-invalid to skip such rows"


def _decimal_points(record: dict[str, Any]) -> dict[str, Any]:
    """In a `;`-separated file the comma is the decimal mark (as Excel writes it in many locales)."""
    return {
        k: v.replace(",", ".") if k in _FEATURE_SET and isinstance(v, str) and "," in v else v
        for k, v in record.items()
    }


def _check_header(path: Path, columns: Sequence[str]) -> None:
    missing = [c for c in (ID_COLUMN, *FEATURES) if c not in columns]
    if not missing:
        return
    by_folded = {" ".join(c.lower().replace("_", " ").split()): c for c in columns}
    renames = [f"{by_folded[key]!r} to {c!r}" for c in missing if (key := c.replace("_", " ")) in by_folded]
    if renames:
        raise InputFileError(f"{path}: rename column(s) {', '.join(renames)}: names are matched exactly")
    if len(missing) == len(FEATURES) + 1:
        shown = ", ".join(repr(c) for c in columns[:4]) + (", ..." if len(columns) > 4 else "")
        raise InputFileError(
            f"{path}: none of the columns lead_id and the 12 features is in the header (it has {shown or 'nothing'}); "
            "the first line must name them (see docs/batch.md, Input)"
        )
    raise InputFileError(f"{path}: missing column(s): {', '.join(missing)}; add them (see docs/batch.md, Input)")


def _parse(record: Mapping[str, Any], seen: Mapping[str, int], line: int, unit: str) -> tuple[str, list[float]]:
    lead_id = record.get(ID_COLUMN)
    if lead_id is None or not str(lead_id).strip():
        raise _BadRow(ID_COLUMN, "missing lead_id", lead_id)
    lead_id = str(lead_id).strip()
    if len(lead_id) > MAX_LEAD_ID_LENGTH:
        raise _BadRow(ID_COLUMN, f"lead_id longer than {MAX_LEAD_ID_LENGTH} characters", lead_id[:20] + "...")
    if lead_id in seen:
        raise _BadRow(ID_COLUMN, f"duplicate lead_id, first on {unit} {seen[lead_id]}", lead_id)
    cells: list[Any] = [record.get(name) for name in FEATURES]
    if _PLAIN.issuperset(map(type, cells)):  # CSV text and JSON numbers: one conversion for the row
        try:
            values = [float(cell) for cell in cells]
        except (ValueError, OverflowError):
            pass
        else:
            if all(map(math.isfinite, values)):
                return lead_id, values
    return lead_id, [_number(name, cell) for name, cell in zip(FEATURES, cells, strict=True)]


def _number(column: str, value: Any) -> float:
    """One cell as a number, or `_BadRow` saying why it is not one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _BadRow(column, "missing value", value)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _BadRow(column, "not a number", value)
    try:
        number = float(value)
    except ValueError:
        raise _BadRow(column, "not a number", value) from None
    except OverflowError:
        raise _BadRow(column, "not finite", value) from None
    if not math.isfinite(number):
        raise _BadRow(column, "not finite", value)
    return number


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def write_leads(path: Path, ids: Sequence[str], X: np.ndarray, extra: Mapping[str, Sequence[str]]) -> None:
    """Write leads in a format `read_leads` takes (`.csv`, `.jsonl` or `.parquet`)."""
    features = {name: [_compact(v) for v in X[:, j]] for j, name in enumerate(FEATURES)}
    write_table(path, {ID_COLUMN: list(ids)} | features | dict(extra))


def lead_records(table: LeadTable) -> list[tuple[bytes, bytes]]:
    """(key, value) per lead: the LeadEvent JSON the worker expects, keyed by lead_id."""
    return [
        (lead_id.encode(), LeadEvent.from_row(lead_id, row).model_dump_json(exclude_none=True).encode())
        for lead_id, row in zip(table.ids, table.X, strict=True)
    ]


def _compact(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def read_model(path: Path) -> ModelSnapshot:
    """A model file written by `segmenter fit --model-out`, for the features this version knows; anything
    else is an `InputFileError` that names the file and says what it is instead."""
    if not path.exists():
        raise InputFileError(
            f"{path}: no such model file; write one with `segmenter fit LEADS_FILE --model-out {path}`"
        )
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, not a model file; give the file `segmenter fit --model-out` wrote")
    data = path.read_bytes()
    fix = "give the file `segmenter fit --model-out` wrote"
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputFileError(f"{path}: not a model file (not JSON); {fix}") from None
    if not isinstance(document, dict) or "schema_version" not in document or "segments" not in document:
        if isinstance(document, dict) and {"recommended_k", "impact"} <= set(document):
            raise InputFileError(f"{path}: this is the summary `segmenter fit --json` prints, not a model; {fix}")
        raise InputFileError(f"{path}: not a segmenter model file (no schema_version or segments); {fix}")
    if document["schema_version"] != SCHEMA_VERSION:
        raise InputFileError(
            f"{path}: model schema version {document['schema_version']!r}, this segmenter reads "
            f"{SCHEMA_VERSION}; fit the model again with this version"
        )
    try:
        snapshot = ModelSnapshot.from_json(data)
    except SnapshotError as error:
        raise InputFileError(f"{path}: {error}; {fix}") from None
    if tuple(snapshot.features) != FEATURES:
        raise InputFileError(
            f"{path}: model features {snapshot.features} differ from this version's {list(FEATURES)}; fit it again"
        )
    return snapshot
