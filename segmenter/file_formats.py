"""Tables in files, by extension: CSV (any common separator, UTF-8 with or without a byte-order mark, or
UTF-16), JSON Lines and Parquet, read as numbered records and written from columns. Parquet goes through
pyarrow, imported only when a Parquet file is read or written (the worker never loads it)."""

import codecs
import csv
import itertools
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segmenter.exceptions import InputFileError, OutputFileError

__all__ = ["READABLE", "WRITABLE", "Records", "check_output", "check_output_folder", "open_records", "write_table"]

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
READABLE = ".csv, .jsonl or .parquet"
WRITABLE = ".csv, .jsonl or .parquet"
_SEPARATORS = (",", ";", "\t", "|")
_SPREADSHEETS = (".xlsx", ".xls", ".xlsm", ".ods", ".numbers")


@dataclass(frozen=True)
class Records:
    """A file's header and its records, each with the number a person finds it by (`unit` says which:
    a line of a text file, a row of a Parquet file); `decimal_comma` when `;` separates the columns, where
    a comma is the decimal mark."""

    columns: list[str]
    rows: Iterator[tuple[int, dict[str, Any]]]
    unit: str
    decimal_comma: bool = False


def open_records(path: Path) -> Records:
    """The records of a leads file, or `InputFileError` saying in one line what is wrong and what to do."""
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, not a leads file; give a {READABLE} file")
    suffix = path.suffix.lower()
    if suffix in _SPREADSHEETS:
        raise InputFileError(f"{path}: a spreadsheet; save it as CSV UTF-8 (or export .parquet) and give that file")
    if suffix not in (*CSV_SUFFIXES, *JSONL_SUFFIXES, *PARQUET_SUFFIXES):
        raise InputFileError(f"{path}: unsupported format {suffix or '(no extension)'}; use {READABLE}")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: the file is empty; it needs a header with lead_id and the 12 features")
    if suffix in PARQUET_SUFFIXES:
        return _parquet_records(path)
    lines = _text_lines(path)
    if suffix in JSONL_SUFFIXES:
        return _jsonl_records(path, lines)
    return _csv_records(path, lines)


def _text_lines(path: Path) -> Iterator[str]:
    """The file's lines, read as they are needed: UTF-16 when it starts with its byte-order mark, else UTF-8
    (a leading BOM, as Excel's "CSV UTF-8" writes it, dropped). Bytes that are not text stop with the line."""
    with path.open("rb") as handle:
        start = handle.read(2)
    encoding = "utf-16" if start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    number = 0
    with path.open(encoding=encoding, newline="") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if "\x00" in line:
                    raise InputFileError(f"{path}: line {number}: not text (a NUL byte); give a {READABLE} file")
                yield line
        except UnicodeError as error:
            name = "UTF-16" if encoding == "utf-16" else "UTF-8"
            raise InputFileError(
                f"{path}: line {_bad_line(path, encoding, number + 1)}: not {name} text "
                f'({getattr(error, "reason", error)}); save the file as UTF-8 (in Excel: "CSV UTF-8")'
            ) from None


def _bad_line(path: Path, encoding: str, fallback: int) -> int:
    """The line of the first byte that is not text (the reader decodes ahead, so it cannot tell)."""
    data = path.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as error:
        return data[: error.start].count(b"\n") + 1
    return fallback


def _csv_records(path: Path, lines: Iterator[str]) -> Records:
    header = next(lines, "")
    separator = max(_SEPARATORS, key=header.count) if any(s in header for s in _SEPARATORS) else ","
    reader = csv.reader(itertools.chain([header], lines), delimiter=separator)
    try:
        columns = [name.strip() for name in next(reader, [])]
    except csv.Error as error:
        raise InputFileError(f"{path}: line 1: not readable as CSV ({error})") from None
    return Records(columns, _csv_rows(path, reader, columns), "line", decimal_comma=separator == ";")


def _csv_rows(path: Path, reader: Any, columns: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    width = len(columns)
    try:
        for values in reader:
            if not values or (len(values) == 1 and not values[0].strip()):
                continue  # a blank line
            if len(values) > width:
                raise InputFileError(
                    f"{path}: line {reader.line_num}: {len(values)} values for {width} header columns; "
                    "quote values that contain the separator"
                )
            yield reader.line_num, dict(zip(columns, values, strict=False))
    except csv.Error as error:
        raise InputFileError(f"{path}: line {reader.line_num}: not readable as CSV ({error})") from None


def _jsonl_records(path: Path, lines: Iterator[str]) -> Records:
    numbered = ((number, line) for number, line in enumerate(lines, start=1) if line.strip())
    first = next(numbered, None)
    if first is None:
        raise InputFileError(f"{path}: only blank lines; JSON Lines has one JSON object per lead")
    columns = list(_json_object(path, *first))
    rows = ((number, _json_object(path, number, line)) for number, line in itertools.chain([first], numbered))
    return Records(columns, rows, "line")


def _json_object(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputFileError(
            f"{path}: line {number}: not valid JSON ({error.msg}); JSON Lines has one object per line"
        ) from None
    if not isinstance(record, dict):
        raise InputFileError(
            f"{path}: line {number}: expected a JSON object per line (JSON Lines), got {_kind(record)}"
        )
    return record


def _kind(value: object) -> str:
    return {list: "an array", str: "a string", bool: "true/false", type(None): "null"}.get(type(value), "a number")


def _parquet_records(path: Path) -> Records:
    pq = _pyarrow_parquet(path)
    import pyarrow  # type: ignore[import-untyped]  # loaded with pyarrow.parquet above

    try:
        table = pq.read_table(path)
    except (pyarrow.ArrowException, OSError) as error:
        raise InputFileError(f"{path}: not a readable Parquet file ({' '.join(str(error).split())[:200]})") from None
    columns = [str(name) for name in table.column_names]
    data = {name: table.column(name).to_pylist() for name in dict.fromkeys(columns)}
    rows = ({name: data[name][i] for name in data} for i in range(table.num_rows))
    return Records(columns, ((i, row) for i, row in enumerate(rows, start=1)), "row")


def _pyarrow_parquet(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise InputFileError(f"{path}: Parquet needs pyarrow: pip install pyarrow") from None
    return pq


def check_output(path: Path, option: str, suffixes: Sequence[str] | None = None, example: str = "out.csv") -> None:
    """Refuse, before any work, an output file that cannot be written: a folder, a missing folder, a read-only
    folder, or (with `suffixes`) an extension that is not one of them."""
    if path.is_dir():
        raise OutputFileError(f"{option} {path}: is a folder; give a file name, such as {path / example}")
    parent = path.parent
    if not parent.is_dir():
        raise OutputFileError(
            f"{option} {path}: folder {parent} does not exist; create it (mkdir -p {parent}) or choose another path"
        )
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise OutputFileError(
            f"{option} {path}: unsupported format {path.suffix or '(no extension)'}; use {', '.join(suffixes)}"
        )
    if not os.access(parent, os.W_OK):
        raise OutputFileError(f"{option} {path}: cannot write in {parent}; choose a folder you can write to")


def check_output_folder(path: Path, option: str) -> None:
    """Refuse, before any work, an output folder that cannot be made or written: a file, or a folder whose
    parent is missing or read-only (the folder itself is created when missing)."""
    if path.exists() and not path.is_dir():
        raise OutputFileError(f"{option} {path}: is a file; give a folder for the report")
    check_output(path / "index.html" if path.is_dir() else path, option, example="report")


def write_table(path: Path, columns: Mapping[str, Sequence[Any]]) -> None:
    """Write equal-length columns by the extension: CSV (floats in their shortest exact form), JSON Lines or
    Parquet. The folder must exist (`check_output`)."""
    suffix = path.suffix.lower()
    names = list(columns)
    if suffix in PARQUET_SUFFIXES:
        pq = _pyarrow_parquet(path)
        import pyarrow

        pq.write_table(pyarrow.table({name: list(columns[name]) for name in names}), path)
    elif suffix in JSONL_SUFFIXES:
        with path.open("w", encoding="utf-8") as handle:
            for row in zip(*(columns[name] for name in names), strict=True):
                handle.write(json.dumps(dict(zip(names, row, strict=True))) + "\n")
    elif suffix in CSV_SUFFIXES:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t" if suffix == ".tsv" else ",")
            writer.writerow(names)
            writer.writerows(zip(*(columns[name] for name in names), strict=True))
    else:
        raise OutputFileError(f"{path}: unsupported format {path.suffix or '(no extension)'}; use {WRITABLE}")
