"""How an operator reads the workers' replies and the model history: one meaning of K in each place, what a pin
or rollback serves, how each version was made, what to do when the gate refuses a K, and one range of K."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from rich.console import Console
from typer.testing import CliRunner

from models.control import LastRefit, ModelEvent, StatusReport, parse_command
from models.exceptions import ConfigError
from models.k_range import MAX_K, MIN_K
from models.settings import Settings
from models.snapshot import ModelSnapshot
from models.snapshot_parts import GateReport
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from segmenter.main import app
from segmenter.replies import describe, history_table

AT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def event(kind: str, **fields: object) -> ModelEvent:
    return ModelEvent.model_validate({"type": kind, "cause": kind, "at": AT} | fields)


def shown(table: object) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_status_labels_the_served_k_apart_from_the_k_of_later_refits() -> None:
    last = LastRefit(cause="refit", outcome="rejected", at=AT, version=7, reasons=["silhouette fell"])
    report = StatusReport(
        served_version=7, current_version=7, pinned=7, k=6, refit_running=False, sampled_leads=12_000,
        last_refit=last, history=[1, 3, 7],
    )  # fmt: skip
    text = describe(event("status", version=7, k=5, status=report))
    lines = text.splitlines()
    assert lines[0] == "served model:      version 7, K=5 segments (current in Redis: 7)"
    assert "K of later refits: 6 (set with `segmenter set-k`)" in lines
    assert "pinned:            version 7 (`segmenter unpin` to release)" in lines
    assert "last refit:        rejected (refit) at 2026-12-07 03:00:00 UTC, version 7: silhouette fell" in lines
    assert "refit:             not running; 12,000 leads sampled" in lines
    assert [line for line in lines if "K" in line and "K of later refits" not in line] == [lines[0]]
    assert not any(line.lstrip().startswith("{") for line in lines)  # not the JSON of the reply


def test_pin_and_rollback_say_which_content_serves_as_which_version() -> None:
    back = describe(event("rolled_back", version=9, previous_version=8, restored_from=3, k=5))
    assert back == "rolled back: serving the content of version 3 as version 9 (K=5)"
    pin = describe(event("pinned", version=10, restored_from=2, k=4))
    assert pin == "pinned: serving the content of version 2 as version 10 (K=4)"
    assert describe(event("pinned", version=2, k=4)) == "pinned: serving version 2 (K=4)"  # already served


def test_a_rejected_refit_says_how_to_serve_its_k_anyway() -> None:
    gate = GateReport(
        decision="rejected", reasons=["held-out silhouette 0.21 is below 0.30 - 0.05"], served_version=7, k=8,
        served_k=5, held_out=1000, moved_share=0.2, candidate={"silhouette": 0.21}, served={"silhouette": 0.3},
    )  # fmt: skip
    text = describe(event("rejected", version=7, k=5, reasons=gate.reasons, gate=gate))
    first, hint = text.splitlines()
    assert first == "rejected: held-out silhouette 0.21 is below 0.30 - 0.05; still serving version 7 (K=5)"
    assert "segmenter fit LEADS_FILE --k 8 --model-out model.json" in hint and "segmenter publish model.json" in hint
    assert "segmenter pin VERSION" in hint
    few = describe(event("rejected", version=7, k=5, reasons=["12 leads sampled"]))
    assert "\n" not in few  # no gate, no K judged: nothing to serve anyway


def test_an_expired_reply_says_nothing_was_done() -> None:
    reasons = ["past its deadline by 2.0s (the sender stopped waiting then): not carried out"]
    assert describe(event("expired", version=7, k=5, reasons=reasons, age_seconds=5.0)).startswith(
        "expired, nothing done: past its deadline by 2.0s"
    )


@pytest.fixture(scope="module")
def first() -> ModelSnapshot:
    return fit_model(generate_leads(400, random_state=5).X, config=StrategyConfig(), k=3, version=1)[1]


def test_the_history_names_publish_refit_rollback_and_pin_apart(first: ModelSnapshot) -> None:
    published = first.model_copy(update={"made_by": "publish"})
    gate = GateReport(
        decision="promoted", reasons=[], served_version=1, k=3, served_k=3, held_out=100, moved_share=0.1,
        candidate={"silhouette": 0.5, "inertia_per_lead": 1.0}, served={"silhouette": 0.4, "inertia_per_lead": 1.1},
    )  # fmt: skip
    refit = first.model_copy(update={"version": 2, "made_by": "refit", "gate": gate})
    back = published.restored(3, refit, "rollback")
    pinned = refit.restored(4, back, "pin")
    assert (back.made_by, back.restored_from, pinned.made_by, pinned.restored_from) == ("rollback", 1, "pin", 2)
    text = shown(history_table([pinned, back, refit, published]))
    assert "pin of the content of 2" in text and "rollback to the content of 1" in text
    assert "refit of 1: passed the gate" in text and "published" in text
    assert "restored from" not in text


def test_a_model_from_before_made_by_still_loads_and_is_named_as_well_as_it_can_be(first: ModelSnapshot) -> None:
    old = json.loads(first.model_dump_json())
    old.pop("made_by", None)  # present once published; a file fit wrote leaves it out
    loaded = ModelSnapshot.from_json(json.dumps(old))
    assert loaded.made_by is None
    restored = json.loads(loaded.restored(2, loaded, "pin").model_dump_json())
    restored.pop("made_by")
    text = shown(history_table([ModelSnapshot.from_json(json.dumps(restored)), loaded]))
    assert "restored from 1 (rollback or pin)" in text and "published" in text


def test_one_range_of_k_everywhere(tmp_path: Path) -> None:
    assert (MIN_K, MAX_K) == (2, 30)
    runner = CliRunner()
    leads = tmp_path / "leads.csv"
    assert runner.invoke(app, ["generate", "--n", "100", "--out", str(leads)]).exit_code == 0
    over = runner.invoke(app, ["fit", str(leads), "--model-out", str(tmp_path / "m.json"), "--k", str(MAX_K + 1)])
    assert over.exit_code == 2 and f"give {MIN_K} to {MAX_K} segments" in over.stderr
    wide = runner.invoke(app, ["fit", str(leads), "--model-out", str(tmp_path / "m.json"), "--max-k", "31"])
    assert wide.exit_code == 2 and f"less than or equal to {MAX_K}" in wide.stderr
    set_k = runner.invoke(app, ["set-k", str(MAX_K + 1)])
    assert set_k.exit_code == 2 and f"from {MIN_K} to {MAX_K}" in set_k.stderr
    with pytest.raises(ConfigError, match=f"from {MIN_K} to {MAX_K}"):
        parse_command(json.dumps({"command": "set_k", "k": MAX_K + 1}).encode())
    assert parse_command(json.dumps({"command": "set_k", "k": MAX_K}).encode()).k == MAX_K  # type: ignore[union-attr]
    with pytest.raises(ValidationError):
        Settings(refit_max_k=MAX_K + 1)
