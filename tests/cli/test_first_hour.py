"""What a new user runs into in the first hour: small files, other CSV dialects, Parquet, wrong paths,
model files that are not models, option mistakes, and services that are not running. Each mistake is one
line on stderr naming the file or option and what to do, with exit status 2."""

import codecs
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from models.settings import Settings
from segmenter import local_state
from segmenter.leads_io import read_leads
from segmenter.main import app
from segmenter.service_options import service_hint, service_settings
from streams.exceptions import ServiceUnavailableError

ROOT = Path(__file__).parents[2]


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.fixture(scope="module")
def leads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("leads") / "leads.csv"
    assert run("generate", "--n", "300", "--seed", "4", "--out", path)[0] == 0
    return path


@pytest.fixture(scope="module")
def model(leads: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.json"
    assert run("fit", leads, "--model-out", path, "--k", "4", "--quiet")[0] == 0
    return path


def first_rows(leads: Path, n: int, out: Path) -> Path:
    lines = leads.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[: n + 1]))
    return out


@pytest.mark.parametrize(
    ("n", "args", "expected"),
    [
        (0, [], "no leads: the file has a header but no rows"),
        (1, [], "has 1 valid lead: choosing K needs at least 3 distinct leads; add leads"),
        (2, [], "choosing K needs at least 3 distinct leads; give --k 2, or add leads"),
        (1, ["--k", "2"], "--k 2 needs at least 2 distinct leads"),
        (4, ["--k", "5"], "--k 5 needs at least 5 distinct leads"),
        (3, ["--pca", "5"], "--pca 5 components need at least 5 leads"),
    ],
)
def test_too_few_leads_are_refused_in_one_line_naming_the_file(
    leads: Path, tmp_path: Path, n: int, args: list[str], expected: str
) -> None:
    small = first_rows(leads, n, tmp_path / "small.csv")
    code, _, stderr = run("fit", small, "--model-out", tmp_path / "m.json", *args)
    assert code == 2
    line = one_line_error(stderr)
    assert str(small) in line and expected in line
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(("n", "k"), [(2, "2"), (3, None), (10, None), (11, None), (23, None), (30, "3")])
def test_small_files_fit_and_say_which_comparison_was_skipped(
    leads: Path, tmp_path: Path, n: int, k: str | None
) -> None:
    small = first_rows(leads, n, tmp_path / "small.csv")
    code, stdout, stderr = run("fit", small, "--model-out", tmp_path / "m.json", "--json", *(["--k", k] if k else []))
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert sum(s["size"] for s in summary["segments"]) == n
    assert summary["dbscan"] is None
    k_fitted = summary["k"]
    assert summary["notes"] == [
        f"only {n} leads for {k_fitted} segments (fewer than 30 a segment): the choice of K and the lift are not "
        "reliable, so no lift is given (too_few)",
        f"DBSCAN comparison skipped: DBSCAN needs at least 48 leads (twice min_samples 24), got {n}",
    ]
    assert summary["impact"]["too_few"] is True and summary["impact"]["lift_pct"] is None
    assert summary["hierarchical"]["sample_size"] == n
    code, _, stderr = run("assign", tmp_path / "m.json", small, "--out", tmp_path / "a.csv", "--quiet")
    assert code == 0, stderr


def test_fit_prints_the_skipped_comparison_and_what_the_lift_rests_on(leads: Path, tmp_path: Path) -> None:
    small = first_rows(leads, 12, tmp_path / "small.csv")
    code, stdout, _ = run("fit", small, "--model-out", tmp_path / "m.json", "--k", "2", "--quiet")
    assert code == 0
    assert "Note: DBSCAN comparison skipped: DBSCAN needs at least 48 leads" in stdout
    assert "expected, from the strategy table's assumed close rates and deal sizes" in " ".join(stdout.split())


def test_k_1_is_refused_and_says_why(leads: Path, tmp_path: Path) -> None:
    code, _, stderr = run("fit", leads, "--model-out", tmp_path / "m.json", "--k", "1")
    assert code == 2
    assert "--k 1: give 2 to 30 segments; one segment is one campaign for all leads" in one_line_error(stderr)


def dialects(leads: Path, tmp_path: Path) -> dict[str, Path]:
    text = leads.read_text()
    semicolon = "\n".join(line.replace(",", ";") for line in text.splitlines())
    european = "\n".join(
        ";".join(cell.replace(".", ",") if i else cell for i, cell in enumerate(line.split(",")))
        for line in text.splitlines()
    )
    files = {
        "bom.csv": codecs.BOM_UTF8 + text.encode(),
        "semicolon.csv": semicolon.encode(),
        "decimal-comma.csv": european.encode(),
        "tabs.tsv": text.replace(",", "\t").encode(),
        "utf16.csv": text.encode("utf-16"),
        "crlf.csv": text.replace("\n", "\r\n").encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


def test_csv_dialects_read_the_same_leads(leads: Path, tmp_path: Path) -> None:
    plain = read_leads(leads)
    for name, path in dialects(leads, tmp_path).items():
        table = read_leads(path)
        assert table.ids == plain.ids, name
        np.testing.assert_array_equal(table.X, plain.X, err_msg=name)
        assert table.extra["true_segment"] == plain.extra["true_segment"], name


def test_parquet_in_and_out_carry_the_same_leads_and_name_the_row(model: Path, leads: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    parquet = tmp_path / "leads.parquet"
    assert run("generate", "--n", "300", "--seed", "4", "--out", parquet)[0] == 0
    np.testing.assert_array_equal(read_leads(parquet).X, read_leads(leads).X)
    assert run("assign", model, parquet, "--out", tmp_path / "a.parquet", "--quiet")[0] == 0
    assert run("assign", model, leads, "--out", tmp_path / "a.csv", "--quiet")[0] == 0
    table = pq.read_table(tmp_path / "a.parquet").to_pydict()
    with (tmp_path / "a.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert table["segment_id"] == [int(r["segment_id"]) for r in rows]
    assert table["lead_id"][:2] == ["L0000000", "L0000001"] and table["is_outlier"][0] in (True, False)
    data = pq.read_table(parquet).to_pydict()
    data["company_size"][6] = -3
    pq.write_table(__import__("pyarrow").table(data), tmp_path / "bad.parquet")
    code, _, stderr = run("fit", tmp_path / "bad.parquet", "--model-out", tmp_path / "m.json")
    assert code == 2 and "bad.parquet: row 7: company_size must be a count" in one_line_error(stderr)
    (tmp_path / "not.parquet").write_text("hello")
    code, _, stderr = run("fit", tmp_path / "not.parquet", "--model-out", tmp_path / "m.json")
    assert code == 2 and "not.parquet: not a readable Parquet file" in one_line_error(stderr)


@pytest.mark.parametrize(
    ("make", "args", "expected"),
    [
        (lambda d: d.joinpath("folder").mkdir(), ["fit", "{d}/folder", "--model-out", "{d}/m.json"], "is a folder"),
        (lambda d: d.joinpath("e.csv").write_text(""), ["fit", "{d}/e.csv", "--model-out", "{d}/m.json"], "is empty"),
        (
            lambda d: d.joinpath("x.csv").write_text("a;b\n1;2\n"),
            ["fit", "{d}/x.csv", "--model-out", "{d}/m.json"],
            "none of the columns lead_id and the 12 features is in the header",
        ),
        (
            lambda d: d.joinpath("l.csv").write_bytes(b"lead_id,name\n1,Jos\xe9\n"),
            ["fit", "{d}/l.csv", "--model-out", "{d}/m.json"],
            "l.csv: line 2: not UTF-8 text",
        ),
        (None, ["fit", "{leads}", "--model-out", "{d}"], "--model-out {d}: is a folder; give a file name"),
        (None, ["fit", "{leads}", "--model-out", "{d}/no/m.json"], "folder {d}/no does not exist"),
        (None, ["assign", "{model}", "{leads}", "--out", "{d}/no/a.csv"], "folder {d}/no does not exist"),
        (None, ["assign", "{model}", "{leads}", "--out", "{d}/a.xlsx"], "unsupported format .xlsx"),
        (
            lambda d: d.joinpath("m.json").write_text("{}"),
            ["assign", "{d}/m.json", "{leads}", "--out", "{d}/a.csv"],
            "m.json: not a segmenter model file",
        ),
        (None, ["assign", "{leads}", "{leads}", "--out", "{d}/a.csv"], "not a model file (not JSON)"),
        (None, ["assign", "{d}/none.json", "{leads}", "--out", "{d}/a.csv"], "none.json: no such model file"),
        (
            lambda d: d.joinpath("s.toml").write_text('[names]\n9 = "X"\n'),
            ["fit", "{leads}", "--model-out", "{d}/m.json", "--k", "3", "--strategies", "{d}/s.toml"],
            "s.toml: [names] 9: no such segment; this fit has segments 0-2",
        ),
        (None, ["fit", "{leads}", "--model-out", "{d}/m.json", "--kk", "3"], "segmenter fit: No such option: --kk"),
        (None, ["fit"], "segmenter fit: Missing argument 'LEADS_FILE' (see `segmenter fit --help`)"),
    ],
)
def test_each_mistake_is_one_line_with_status_2(
    leads: Path, model: Path, tmp_path: Path, make: object, args: list[str], expected: str
) -> None:
    if callable(make):
        make(tmp_path)
    code, _, stderr = run(*[a.format(d=tmp_path, leads=leads, model=model) for a in args])
    assert code == 2
    assert expected.format(d=tmp_path) in one_line_error(stderr)


def test_the_summary_of_fit_json_is_not_taken_for_a_model(leads: Path, tmp_path: Path) -> None:
    code, stdout, _ = run("fit", leads, "--model-out", tmp_path / "m.json", "--k", "2", "--json", "--quiet")
    (tmp_path / "summary.json").write_text(stdout)
    code, _, stderr = run("assign", tmp_path / "summary.json", leads, "--out", tmp_path / "a.csv")
    assert code == 2 and "summary `segmenter fit --json` prints, not a model" in one_line_error(stderr)


def test_version_and_help_without_placeholders() -> None:
    code, stdout, _ = run("--version")
    assert code == 0 and stdout.startswith("segmenter ")
    code, stdout, _ = run("fit", "--help")
    assert code == 0 and "<bool>" not in stdout and "╭" not in stdout
    code, stdout, _ = run("produce", "--help")
    assert "--bootstrap" in stdout and "--redis" in stdout and "SEGMENTER_KAFKA_BOOTSTRAP" in stdout


def test_a_refused_connection_names_the_service_and_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_state, "STATE_FILE", tmp_path / "state.json")
    settings = Settings(kafka_bootstrap="127.0.0.1:1", redis_url="redis://127.0.0.1:2/0")  # type: ignore[arg-type]
    kafka = ServiceUnavailableError("Kafka at 127.0.0.1:1: KafkaConnectionError('Unable to bootstrap from [...]')")
    assert service_hint(kafka, settings) == (
        "cannot reach Kafka at 127.0.0.1:1 (connection refused): start both with `segmenter local up` and export "
        "what it prints, or pass --bootstrap HOST:PORT (SEGMENTER_KAFKA_BOOTSTRAP)"
    )
    redis = ServiceUnavailableError("Redis: Error 111 connecting to 127.0.0.1:2. Connect call failed.")
    assert service_hint(redis, settings).startswith("cannot reach Redis at redis://127.0.0.1:2/0 (connection refused)")
    mismatch = ServiceUnavailableError("Kafka refused to create topic leads: {...}")
    assert "cannot reach" not in service_hint(ServiceUnavailableError("topic leads has 3 partitions"), settings)
    assert service_hint(mismatch, settings).startswith("cannot reach Kafka")
    refused = ServiceUnavailableError(
        "Kafka at 127.0.0.1:1: KafkaConnectionError('Authentication failed due to invalid credentials with SASL')"
    )
    assert service_hint(refused, settings) == str(refused)  # it answered: wrong credentials, not a service to start


def test_the_options_win_over_the_variables_and_a_bad_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMENTER_KAFKA_BOOTSTRAP", "env:9092")
    assert service_settings(None, None).kafka_bootstrap == "env:9092"
    assert service_settings("cli:9092", None).kafka_bootstrap == "cli:9092"
    code, _, stderr = run("publish", "x.json", "--redis", "http://nope")
    assert code == 2 and one_line_error(stderr).startswith("error: --redis: ")


def test_a_publish_without_redis_blames_redis(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_state, "STATE_FILE", tmp_path / "state.json")
    code, _, stderr = run("publish", model, "--redis", "redis://127.0.0.1:1/0", "--bootstrap", "127.0.0.1:1")
    assert code == 2
    assert "cannot reach Redis at redis://127.0.0.1:1/0 (connection refused)" in one_line_error(stderr)


def test_the_local_state_file_is_the_users_own() -> None:
    import os

    assert local_state.STATE_FILE.parent.name == f"segmenter-local-{os.getuid()}"


def test_the_worker_and_the_cli_load_pyarrow_only_for_parquet() -> None:
    probe = "import sys, segmenter.main, streams.app; print('pyarrow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_report_on_few_leads_says_the_comparison_was_skipped_and_what_the_lift_rests_on(
    leads: Path, tmp_path: Path
) -> None:
    small = first_rows(leads, 12, tmp_path / "small.csv")
    code, _, stderr = run("fit", small, "--model-out", tmp_path / "m.json", "--report-dir", tmp_path / "r", "-q")
    assert code == 0, stderr
    page = (tmp_path / "r" / "index.html").read_text()
    assert "DBSCAN comparison skipped: DBSCAN needs at least 48 leads" in page
    assert "expected, from the strategy table&#x27;s assumed close rates and deal sizes" in page
    assert not (tmp_path / "r" / "dbscan_vs_kmeans.png").exists()
