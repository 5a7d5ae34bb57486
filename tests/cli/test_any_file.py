"""Property: whatever file a user hands `fit` and `assign` — 0 to 60 rows, bad cells, a byte-order mark, any
common separator, another encoding — the command ends with status 0 or 2, never with a traceback."""

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from segmentation.features import FEATURES
from segmentation.synthetic import generate_leads
from segmenter.main import app

BASE = generate_leads(60, random_state=0).X
BAD_CELLS = ["", " ", "abc", "-1", "nan", "inf", "1e400", "2.5", "1,5", "99999999999999", "true", '"', "é"]
HEADER = ["lead_id", *FEATURES, "note"]


@st.composite
def lead_files(draw: st.DrawFn) -> tuple[str, bytes]:
    n = draw(st.integers(0, 60))
    rows = [
        [f"L{i}", *(f"{v:g}" for v in BASE[i]), draw(st.sampled_from(["", "café", "a;b", "x,y"]))] for i in range(n)
    ]
    for _ in range(draw(st.sampled_from([0, 0, 1, 3])) if n else 0):
        row, column = draw(st.integers(0, n - 1)), draw(st.integers(0, len(HEADER) - 1))
        rows[row][column] = draw(st.sampled_from(BAD_CELLS + ["L0"]))
    header = list(HEADER)
    if draw(st.booleans()) and draw(st.booleans()):
        header[draw(st.integers(0, len(header) - 1))] = draw(st.sampled_from(["Lead ID", "", "x"]))
    kind = draw(st.sampled_from(["csv", "csv", "csv", "jsonl"]))
    if kind == "jsonl":
        text = "".join(json.dumps(dict(zip(header, row, strict=True))) + "\n" for row in rows)
    else:
        sep = draw(st.sampled_from([",", ";", "\t", "|"]))
        quote = lambda cell: f'"{cell}"' if sep in cell or '"' in cell else cell  # noqa: E731
        text = "".join(sep.join(quote(c) for c in line) + "\n" for line in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))]  # cut anywhere, even inside a character
    return kind, data


def invoke(*args: str | Path) -> int:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code in (0, 2), result.stderr
    if result.exit_code == 2:
        # One error line; before it, with --drop-invalid, the warning of what was dropped (--quiet never hides it).
        *warnings, error = result.stderr.splitlines()
        assert error.startswith("error: ") and all(w.startswith("dropped ") for w in warnings), result.stderr
        assert len(warnings) <= 1, result.stderr
    return result.exit_code


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=lead_files(), k=st.sampled_from([None, "2", "3"]), drop=st.booleans())
def test_fit_and_assign_end_in_0_or_2_on_any_file(
    tmp_path: Path, file: tuple[str, bytes], k: str | None, drop: bool
) -> None:
    kind, data = file
    leads = tmp_path / f"leads.{kind}"
    leads.write_bytes(data)
    model = tmp_path / "model.json"
    model.unlink(missing_ok=True)
    dropping = ["--drop-invalid"] if drop else []
    code = invoke("fit", leads, "--model-out", model, "--max-k", "4", "--quiet", *(["--k", k] if k else []), *dropping)
    if code == 0:
        assert invoke("assign", model, leads, "--out", tmp_path / "assigned.csv", "--quiet", *dropping) == 0
        invoke("assign", model, leads, "--out", tmp_path / "assigned.parquet", "--drop-invalid", "--quiet")
