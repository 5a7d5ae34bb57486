"""The `segmenter` command line as a user drives it: files in, files and tables out, clear errors."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.snapshot import ModelSnapshot
from segmentation.features import FEATURES
from segmentation.holdout import HoldoutDraw
from segmenter.main import app

runner = CliRunner()


def run(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def leads_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("leads") / "leads.csv"
    assert run("generate", "--n", "2000", "--seed", "3", "--out", path)[0] == 0
    return path


@pytest.fixture(scope="module")
def fitted(leads_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    model = tmp_path_factory.mktemp("model") / "model.json"
    code, stdout, _ = run("fit", leads_csv, "--model-out", model, "--json", "--seed", "0")
    assert code == 0
    return model, json.loads(stdout)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_generate_is_deterministic_and_complete(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.jsonl"
    assert run("generate", "--n", "300", "--seed", "9", "--out", a)[0] == 0
    assert run("generate", "--n", "300", "--seed", "9", "--out", b)[0] == 0
    csv_rows = rows(a)
    json_rows = [json.loads(line) for line in b.read_text().splitlines()]
    assert len(csv_rows) == len(json_rows) == 300
    assert csv_rows[0]["lead_id"] == json_rows[0]["lead_id"] == "L0000000"
    assert float(csv_rows[5]["revenue_potential"]) == json_rows[5]["revenue_potential"]
    assert {r["true_segment"] for r in csv_rows} == {
        "High-Value Enterprise",
        "SMB Quick Closers",
        "Tire Kickers",
        "Mid-Market Nurture",
        "Churn Risk",
    }


def test_fit_json_follows_the_contract(fitted: tuple[Path, dict[str, object]]) -> None:
    model, summary = fitted
    assert summary["recommended_k"] == summary["k"] == 5
    assert "silhouette alone would pick K=2" in str(summary["reason"])
    scores = summary["scores"]
    assert isinstance(scores, list) and [s["k"] for s in scores] == list(range(2, 11))
    assert set(scores[0]) >= {"silhouette", "calinski_harabasz", "davies_bouldin", "stability", "min_share"}
    segments = summary["segments"]
    assert isinstance(segments, list)
    assert {s["name"] for s in segments} == {
        "High-Value Enterprise",
        "SMB Quick Closers",
        "Tire Kickers",
        "Mid-Market Nurture",
        "Churn Risk",
    }
    assert sum(s["size"] for s in segments) == 2000
    assert set(summary["dbscan"]) >= {"eps", "n_clusters", "noise"}  # type: ignore[arg-type]
    impact = summary["impact"]
    assert isinstance(impact, dict) and impact["baseline_revenue"] == pytest.approx(2000 * 0.23 * 12_000)
    assert ModelSnapshot.from_json(model.read_bytes()).version == summary["model_version"]


def test_assign_routes_leads_and_carries_columns(leads_csv: Path, fitted: tuple[Path, object], tmp_path: Path) -> None:
    out = tmp_path / "assigned.csv"
    code, _, _ = run("assign", fitted[0], leads_csv, "--out", out, "--quiet")
    assert code == 0
    assigned = rows(out)
    assert len(assigned) == 2000
    assert list(assigned[0])[:7] == [
        "lead_id",
        "segment_id",
        "segment_name",
        "distance",
        "confidence",
        "is_outlier",
        "top_features",
    ]
    agree = sum(r["segment_name"] == r["true_segment"] for r in assigned) / len(assigned)
    assert agree > 0.9
    assert all(0 <= float(r["confidence"]) <= 1 for r in assigned)


def test_assign_with_a_holdout_writes_each_leads_arm(
    leads_csv: Path, fitted: tuple[Path, object], tmp_path: Path
) -> None:
    plain, held = tmp_path / "plain.csv", tmp_path / "held.csv"
    assert run("assign", fitted[0], leads_csv, "--out", plain, "--quiet")[0] == 0
    assert (
        run("assign", fitted[0], leads_csv, "--out", held, "--holdout", "0.1", "--holdout-salt", "q3", "--quiet")[0]
        == 0
    )
    assert {r["arm"] for r in rows(plain)} == {"segmented"}
    draw = HoldoutDraw(0.1, "q3")
    arms = [(r["arm"], draw.arm(r["lead_id"])) for r in rows(held)]
    assert all(a == b for a, b in arms) and 150 < sum(a == "holdout" for a, _ in arms) < 250


@pytest.mark.parametrize("share", ["0.6", "-0.1"])
def test_assign_refuses_a_holdout_share_outside_zero_to_a_half(
    leads_csv: Path, fitted: tuple[Path, object], tmp_path: Path, share: str
) -> None:
    code, _, stderr = run("assign", fitted[0], leads_csv, "--out", tmp_path / "a.csv", "--holdout", share)
    assert code != 0 and f"--holdout {float(share)}: give a share from 0 (no holdout) to 0.5" in stderr
    assert not (tmp_path / "a.csv").exists()


def test_fit_with_fixed_k_and_pca_reports_the_reduction(leads_csv: Path, tmp_path: Path) -> None:
    code, stdout, _ = run("fit", leads_csv, "--model-out", tmp_path / "m.json", "--k", "4", "--pca", "0.9", "--json")
    assert code == 0
    summary = json.loads(stdout)
    assert summary["k"] == 4 and summary["recommended_k"] is None and summary["scores"] == []
    reduction = summary["pca"]["reduction"]
    assert 0.9 <= reduction["variance_retained"] <= 1 and reduction["components"] < 12
    assert reduction["speedup"] > 0


def test_strategies_file_renames_and_reprices(leads_csv: Path, tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text(
        '[names]\n0 = "Core Accounts"\n[strategies."Core Accounts"]\nchannel = "Field"\nmessage = "Hi"\n'
        'sales_resource = "AE"\nexpected_close_rate = "50%"\navg_deal_size = "$1,000"\n'
    )
    code, stdout, _ = run(
        "fit", leads_csv, "--model-out", tmp_path / "m.json", "--k", "5", "--strategies", config, "--json"
    )
    assert code == 0
    first = json.loads(stdout)["segments"][0]
    assert first["name"] == "Core Accounts"
    assert first["strategy"]["expected_close_rate"] == 0.5 and first["strategy"]["avg_deal_size"] == 1000
    assert first["expected_revenue"] == pytest.approx(first["size"] * 0.5 * 1000)


def test_report_writes_html(leads_csv: Path, fitted: tuple[Path, object], tmp_path: Path) -> None:
    code, stdout, _ = run("report", fitted[0], leads_csv, "--out", tmp_path / "r", "--quiet")
    assert code == 0
    assert stdout.strip() == str(tmp_path / "r" / "index.html")
    assert "Tire Kickers" in (tmp_path / "r" / "index.html").read_text()


def write_bad(tmp_path: Path, leads_csv: Path, line: int, column: str, value: str) -> Path:
    data = rows(leads_csv)[:50]
    data[line - 2][column] = value
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)
    return bad


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("company_size", "abc", "line 7: column company_size: not a number ('abc')"),
        ("email_open_rate", "1.5", "line 7: email_open_rate must be a rate 0-1 in [0, 1], got 1.5"),
        ("pages_viewed", "-3", "line 7: pages_viewed must be a count in [0, 1e+08], got -3"),
        ("engagement_score", "nan", "line 7: column engagement_score: not finite ('nan')"),
        ("decision_maker_level", "2.5", "line 7: decision_maker_level must be a whole level 1-5, got 2.5"),
        ("revenue_potential", "", "line 7: column revenue_potential: missing value ('')"),
    ],
)
def test_bad_values_name_line_and_column(
    leads_csv: Path, tmp_path: Path, column: str, value: str, message: str
) -> None:
    bad = write_bad(tmp_path, leads_csv, 7, column, value)
    code, stdout, stderr = run("fit", bad, "--model-out", tmp_path / "m.json", "--k", "2")
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr + stdout
    assert len(stderr.strip().splitlines()) == 1


def test_drop_invalid_counts_dropped_rows(leads_csv: Path, tmp_path: Path) -> None:
    bad = write_bad(tmp_path, leads_csv, 7, "email_open_rate", "7")
    out = tmp_path / "a.csv"
    code, _, stderr = run("fit", bad, "--model-out", tmp_path / "m.json", "--k", "2", "--drop-invalid", "--quiet")
    assert code == 0
    code, _, stderr = run("assign", tmp_path / "m.json", bad, "--out", out, "--drop-invalid")
    assert code == 0
    assert "dropped 1 invalid rows (1 email_open_rate out of range)" in stderr
    assert len(rows(out)) == 49


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "missing.csv", "--model-out", "m.json"], "missing.csv: no such file"),
        (["fit", "{tmp}/leads.xlsx", "--model-out", "m.json"], "leads.xlsx: a spreadsheet; save it as CSV UTF-8"),
        (["fit", "{tmp}/leads.xml", "--model-out", "m.json"], "unsupported format .xml; use .csv, .jsonl or .parquet"),
        (["fit", "{tmp}/nocol.csv", "--model-out", "m.json"], "missing column(s): company_size"),
        (["assign", "{tmp}/broken.json", "{leads}", "--out", "x.csv"], "broken.json: not a valid model file"),
        (["fit", "{leads}", "--model-out", "m.json", "--strategies", "{tmp}/bad.toml"], "bad.toml: strategies.X"),
    ],
)
def test_user_errors_are_one_line(leads_csv: Path, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "leads.xlsx").write_text("x")
    (tmp_path / "leads.xml").write_text("x")
    (tmp_path / "nocol.csv").write_text(leads_csv.read_text().replace("company_size", "size", 1))
    (tmp_path / "broken.json").write_text('{"schema_version": 1, "segments": []}')
    (tmp_path / "bad.toml").write_text("[strategies.X]\nchannel = 3\n")
    code, stdout, stderr = run(*[a.format(tmp=tmp_path, leads=leads_csv) for a in args])
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr + stdout


def test_bad_pca_option_is_rejected(leads_csv: Path, tmp_path: Path) -> None:
    code, _, stderr = run("fit", leads_csv, "--model-out", tmp_path / "m.json", "--pca", "1.5")
    assert code == 2
    assert "variance share in (0, 1)" in stderr


def test_log_features_option_sets_the_models_transform(leads_csv: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.json"
    code, _, _ = run(
        "fit", leads_csv, "--model-out", model, "--k", "3", "--log-features", "company_size, revenue_potential"
    )
    assert code == 0
    assert ModelSnapshot.from_json(model.read_bytes()).log_features == ["company_size", "revenue_potential"]
    assert run("fit", leads_csv, "--model-out", model, "--k", "3", "--log-features", "none")[0] == 0
    assert ModelSnapshot.from_json(model.read_bytes()).log_features == []
    code, _, stderr = run("fit", leads_csv, "--model-out", model, "--log-features", "revenue")
    assert code == 2 and "--log-features: unknown feature(s) revenue" in stderr


def test_schema_prints_the_event_command_and_reply_schemas() -> None:
    code, stdout, _ = run("schema")
    assert code == 0
    schemas = json.loads(stdout)
    assert set(schemas) == {
        "LeadEvent", "OutcomeEvent", "SegmentAssigned", "SegmentTransition", "DeadLetter", "ControlCommand",
        "ModelEvent", "ImpactReport",
    }  # fmt: skip
    assert schemas["OutcomeEvent"]["properties"]["outcome"]["enum"] == ["won", "lost", "reopened"]
    assert schemas["ImpactReport"]["$defs"]["LiftFigures"]["properties"]["basis"]["enum"] == [
        "measured", "too_few", "no_revenue"
    ]  # fmt: skip
    assert schemas["SegmentTransition"]["properties"]["reason"]["enum"] == [
        "lead_changed", "segment_split", "segment_merged", "segment_retired"
    ]  # fmt: skip
    assert "lineage" in schemas["ModelEvent"]["properties"]
    assert "drift" in schemas["ModelEvent"]["properties"] and "DriftReport" in schemas["ModelEvent"]["$defs"]
    assert set(schemas["ControlCommand"]["discriminator"]["mapping"]) == {
        "refit", "rollback", "pin", "unpin", "set_k", "status"
    }  # fmt: skip
    assert "promoted" in schemas["ModelEvent"]["properties"]["type"]["enum"]
    lead = schemas["LeadEvent"]
    assert set(lead["required"]) == {"lead_id", *FEATURES}
    assert lead["properties"]["email_open_rate"]["maximum"] == 1
    assert "event_id" in schemas["SegmentAssigned"]["required"]
