"""Files: leads from CSV or JSONL with row-and-column errors, model files, CSV output, and leads as the
Kafka records the worker reads."""

import csv
import json
import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.events import MAX_LEAD_ID_LENGTH, LeadEvent
from models.snapshot import ModelSnapshot
from segmentation.features import FEATURES, find_violations
from segmenter.exceptions import InputFileError

__all__ = ["LeadTable", "lead_records", "read_leads", "read_model", "write_csv", "write_leads"]

ID_COLUMN = "lead_id"
_KNOWN = frozenset((ID_COLUMN, *FEATURES))
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
    """Read `lead_id` + the 12 features from `.csv` or `.jsonl`/`.ndjson`.

    A bad value raises `InputFileError` naming the line and column; with `drop_invalid` the row
    is skipped and counted by reason instead.
    """
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(path)
    elif suffix in (".jsonl", ".ndjson"):
        records = _jsonl_records(path)
    else:
        raise InputFileError(f"{path}: unsupported format {suffix or '(none)'}; use .csv or .jsonl")
    ids: list[str] = []
    rows: list[list[float]] = []
    lines: list[int] = []
    carried: list[dict[str, str]] = []
    dropped: Counter[str] = Counter()
    seen: dict[str, int] = {}
    try:
        for line, record in records:
            try:
                lead_id, values = _parse(record, seen, line)
            except _BadRow as bad:
                if not drop_invalid:
                    raise InputFileError(f"{path}: line {line}: {bad}") from None
                dropped[bad.kind] += 1
                continue
            seen[lead_id] = line
            ids.append(lead_id)
            rows.append(values)
            lines.append(line)
            has_extra = len(record) > len(FEATURES) + 1  # every known column is there: more means extra ones
            carried.append({k: _text(v) for k, v in record.items() if k not in _KNOWN} if has_extra else {})
    except UnicodeDecodeError as error:
        raise InputFileError(f"{path}: not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        raise InputFileError(f"{path}: not readable as CSV ({error})") from None
    names = list(dict.fromkeys(name for row in carried for name in row))
    extra = {name: [row.get(name, "") for row in carried] for name in names}
    X = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
    keep = np.ones(len(X), dtype=bool)
    for violation in find_violations(X):
        if not drop_invalid:
            raise InputFileError(f"{path}: line {lines[violation.row]}: {violation.reason}")
        if keep[violation.row]:
            dropped[f"{violation.column} out of range"] += 1
        keep[violation.row] = False
    if not keep.all():
        ids = [i for i, k in zip(ids, keep, strict=True) if k]
        extra = {name: [v for v, k in zip(col, keep, strict=True) if k] for name, col in extra.items()}
        X = X[keep]
    if not ids:
        raise InputFileError(f"{path}: no valid leads" + (f" ({sum(dropped.values())} dropped)" if dropped else ""))
    return LeadTable(ids, X, extra, dropped)


def _csv_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        _check_header(path, reader.fieldnames or [])
        for record in reader:
            if None in record:
                raise InputFileError(f"{path}: line {reader.line_num}: more values than header columns")
            yield reader.line_num, record


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        header_checked = False
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                raise InputFileError(f"{path}: line {line}: not valid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise InputFileError(f"{path}: line {line}: expected a JSON object")
            if not header_checked:
                _check_header(path, list(record))
                header_checked = True
            yield line, record


def _check_header(path: Path, columns: Sequence[str]) -> None:
    missing = [c for c in (ID_COLUMN, *FEATURES) if c not in columns]
    if missing:
        raise InputFileError(f"{path}: missing column(s): {', '.join(missing)}")


def _parse(record: Mapping[str, Any], seen: Mapping[str, int], line: int) -> tuple[str, list[float]]:
    lead_id = record.get(ID_COLUMN)
    if lead_id is None or not str(lead_id).strip():
        raise _BadRow(ID_COLUMN, "missing lead_id", lead_id)
    lead_id = str(lead_id).strip()
    if len(lead_id) > MAX_LEAD_ID_LENGTH:
        raise _BadRow(ID_COLUMN, f"lead_id longer than {MAX_LEAD_ID_LENGTH} characters", lead_id[:20] + "...")
    if lead_id in seen:
        raise _BadRow(ID_COLUMN, f"duplicate lead_id, first on line {seen[lead_id]}", lead_id)
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
    if isinstance(value, bool) or not isinstance(value, int | float | str):
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
    return value if isinstance(value, str) else json.dumps(value)


def write_csv(path: Path, columns: Mapping[str, Sequence[Any]]) -> None:
    """Write equal-length columns as CSV; floats in their shortest exact form."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(zip(*(columns[name] for name in names), strict=True))


def write_leads(path: Path, ids: Sequence[str], X: np.ndarray, extra: Mapping[str, Sequence[str]]) -> None:
    """Write leads in the input format `read_leads` takes (`.csv` or `.jsonl`)."""
    features = {name: [_compact(v) for v in X[:, j]] for j, name in enumerate(FEATURES)}
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            for i, lead_id in enumerate(ids):
                record: dict[str, Any] = {ID_COLUMN: lead_id} | {n: features[n][i] for n in FEATURES}
                record |= {n: col[i] for n, col in extra.items()}
                handle.write(json.dumps(record) + "\n")
    elif path.suffix.lower() == ".csv":
        write_csv(path, {ID_COLUMN: list(ids)} | features | dict(extra))
    else:
        raise InputFileError(f"{path}: unsupported format {path.suffix or '(none)'}; use .csv or .jsonl")


def lead_records(table: LeadTable) -> list[tuple[bytes, bytes]]:
    """(key, value) per lead: the LeadEvent JSON the worker expects, keyed by lead_id."""
    return [
        (lead_id.encode(), LeadEvent.from_row(lead_id, row).model_dump_json(exclude_none=True).encode())
        for lead_id, row in zip(table.ids, table.X, strict=True)
    ]


def _compact(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def read_model(path: Path) -> ModelSnapshot:
    """A model file written by `segmenter fit`, for the features this version knows."""
    if not path.is_file():
        raise InputFileError(f"{path}: no such model file")
    snapshot = ModelSnapshot.from_json(path.read_bytes())
    if tuple(snapshot.features) != FEATURES:
        raise InputFileError(f"{path}: model features {snapshot.features} differ from this version's {list(FEATURES)}")
    return snapshot
