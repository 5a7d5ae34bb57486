"""The command blocks a user copies run as written, line by line, in an empty folder: the README's batch
quickstart and the batch guide's usage block (docs/batch.md)."""

import csv
import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from segmenter.main import app

ROOT = Path(__file__).parents[2]
BLOCKS = {
    "README.md": "## Batch quickstart",
    "docs/batch.md": "## Usage",
}


def block_lines(page: str, heading: str) -> list[list[str]]:
    """The commands of the first code block under `heading` of `page`, comments removed."""
    section = (ROOT / page).read_text().split(f"\n{heading}\n", 1)[1]
    block = section.split("```\n", 2)[1]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def run_block(lines: list[list[str]]) -> dict[str, str]:
    """Run each line as the user would; the stdout of each, by its line."""
    outputs = {}
    for line in lines:
        result = CliRunner().invoke(app, line[1:])
        assert result.exit_code == 0, f"{shlex.join(line)}: {result.stderr}"
        outputs[shlex.join(line)] = result.stdout
    return outputs


@pytest.mark.parametrize("page", BLOCKS)
def test_the_usage_block_runs_as_written(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lines = block_lines(page, BLOCKS[page])
    assert len(lines) >= 4 and all(line[0] == "segmenter" for line in lines)
    outputs = run_block(lines)
    with (tmp_path / "assigned.csv").open() as handle:
        assigned = list(csv.DictReader(handle))
    assert len(assigned) == 300 and {row["segment_id"] for row in assigned} == {"0", "1", "2", "3", "4"}
    assert (tmp_path / "report" / "index.html").is_file()
    model = json.loads((tmp_path / "model.json").read_text())
    assert [segment["id"] for segment in model["segments"]] == [0, 1, 2, 3, 4]
    if page == "docs/batch.md":
        summary = json.loads(next(out for line, out in outputs.items() if "--json" in line))
        assert summary["k"] == 5 and summary["impact"]["basis"].startswith("expected")
        assert (tmp_path / "new-report" / "index.html").is_file()
