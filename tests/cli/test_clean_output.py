"""Output a user pipes or logs: no line wrapped at 80 columns off a terminal, and --quiet silences progress,
never a warning."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from segmenter.main import app

LONG = " ".join(f"word{i}" for i in range(60))  # about 400 characters


def test_off_a_terminal_no_line_is_wrapped_on_stdout_or_stderr() -> None:
    code = (
        "from segmenter.console import err, out; "
        f"out.print({LONG!r}, highlight=False); err.print({LONG!r}, highlight=False)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == LONG + "\n" and done.stderr == LONG + "\n"


@pytest.fixture(scope="module")
def leads_with_a_bad_row(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("leads") / "leads.csv"
    assert CliRunner().invoke(app, ["generate", "--n", "200", "--seed", "2", "--out", str(path)]).exit_code == 0
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    bad = lines[1].split(",")
    bad[header.index("engagement_score")] = "-5"  # out of range
    bad[header.index("lead_id")] = "BAD1"
    path.write_text("\n".join([*lines, ",".join(bad)]) + "\n")
    return path


@pytest.mark.parametrize("quiet", [[], ["--quiet"]])
def test_dropped_rows_are_said_with_and_without_quiet(
    leads_with_a_bad_row: Path, tmp_path: Path, quiet: list[str]
) -> None:
    model = tmp_path / "model.json"
    runner = CliRunner()
    fit = runner.invoke(
        app, ["fit", str(leads_with_a_bad_row), "--model-out", str(model), "--k", "3", "--drop-invalid", *quiet]
    )
    assert fit.exit_code == 0, fit.stderr
    assert "dropped 1 invalid rows (1 engagement_score out of range)" in fit.stderr
    out = tmp_path / "assigned.csv"
    assigned = runner.invoke(
        app, ["assign", str(model), str(leads_with_a_bad_row), "--out", str(out), "--drop-invalid", *quiet]
    )
    assert assigned.exit_code == 0 and "dropped 1 invalid rows" in assigned.stderr
    if quiet:  # no progress, no summary line: the warning only
        assert [line for line in fit.stderr.splitlines() if line.strip()] == [
            "dropped 1 invalid rows (1 engagement_score out of range)"
        ]
        assert assigned.stderr.strip() == "dropped 1 invalid rows (1 engagement_score out of range)"
