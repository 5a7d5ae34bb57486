"""The README's usage block runs as written, line by line, in an empty folder."""

import csv
import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from segmenter.main import app

README = Path(__file__).parents[2] / "README.md"


def usage_lines() -> list[list[str]]:
    """The commands of the first code block under "## Usage", comments removed."""
    section = README.read_text().split("## Usage", 1)[1]
    block = section.split("```\n", 2)[1]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_the_usage_block_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lines = usage_lines()
    assert len(lines) >= 5 and all(line[0] == "segmenter" for line in lines)
    outputs = []
    for line in lines:
        result = CliRunner().invoke(app, line[1:])
        assert result.exit_code == 0, f"{shlex.join(line)}: {result.stderr}"
        outputs.append(result.stdout)
    summary = json.loads(next(out for line, out in zip(lines, outputs, strict=True) if "--json" in line))
    assert summary["k"] == 5 and summary["impact"]["basis"].startswith("expected")
    with (tmp_path / "assigned.csv").open() as handle:
        assigned = list(csv.DictReader(handle))
    assert len(assigned) == 300 and {row["segment_id"] for row in assigned} == {"0", "1", "2", "3", "4"}
    assert (tmp_path / "report" / "index.html").is_file() and (tmp_path / "new-report" / "index.html").is_file()
