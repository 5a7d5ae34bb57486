"""Reading lead files: every kind of bad cell is named, in CSV and JSONL alike, and extra columns are kept."""

import json
import re
from pathlib import Path

import pytest

from segmentation.features import FEATURES
from segmentation.synthetic import generate_leads
from segmenter.exceptions import InputFileError
from segmenter.leads_io import read_leads


def records(n: int = 3) -> list[dict[str, object]]:
    X = generate_leads(n, random_state=4).X
    return [
        {"lead_id": f"L{i}"} | {name: float(v) for name, v in zip(FEATURES, row, strict=True)}
        for i, row in enumerate(X)
    ]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        (True, "not a number (True)"),
        (None, "missing value (None)"),
        ([1], "not a number ([1])"),
        ("abc", "not a number ('abc')"),
        (10**400, "not finite"),
        (float("inf"), "not finite (inf)"),
    ],
)
def test_a_bad_jsonl_cell_is_named_by_line_and_column(tmp_path: Path, cell: object, reason: str) -> None:
    rows = records()
    rows[1]["company_size"] = cell
    with pytest.raises(InputFileError, match=re.escape(f"line 2: column company_size: {reason}")):
        read_leads(write_jsonl(tmp_path / "leads.jsonl", rows))


def test_numbers_given_as_text_in_jsonl_are_read_and_extra_fields_carried(tmp_path: Path) -> None:
    rows = records()
    rows[0]["company_size"] = "12"
    rows[2]["source"] = "webinar"
    table = read_leads(write_jsonl(tmp_path / "leads.jsonl", rows))
    assert table.X[0, FEATURES.index("company_size")] == 12.0
    assert table.extra == {"source": ["", "", "webinar"]}
