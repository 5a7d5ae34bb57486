"""The holdout on a real broker and Redis: both engines and the offline `assign` put the same leads in the same arm,
and a holdout lead gets its segment with the baseline campaign."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.events import SegmentAssigned
from segmentation.holdout import HoldoutDraw
from segmenter.leads_io import write_leads
from tests.integration.harness import Worker, consume, leads, model_file, produce, publish, worker_env

SENT, SHARE, SALT = 1500, 0.2, "spring-test"


@pytest.mark.parametrize("engine", ["batch", "agent"])
def test_each_engine_and_the_offline_assign_draw_the_same_holdout(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, engine: str
) -> None:
    env = os.environ | worker_env(
        kafka_bootstrap,
        redis_url,
        SEGMENTER_ENGINE=engine,
        SEGMENTER_HOLDOUT_SHARE=str(SHARE),
        SEGMENTER_HOLDOUT_SALT=SALT,
    )
    path, snapshot = model_file(tmp_path, k=5, version=1)
    table, records = leads(SENT, seed=8)
    with Worker(env, tmp_path):
        publish(env, path)
        produce(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_LEADS_TOPIC"], records)
        outputs = consume(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_SEGMENTS_TOPIC"], SENT)
    streamed = {e.lead_id: e for e in (SegmentAssigned.model_validate_json(o.value) for o in outputs)}
    assert len(streamed) == SENT

    leads_file, assigned = tmp_path / "leads.csv", tmp_path / "assigned.csv"
    write_leads(leads_file, table.ids, table.X, {})
    command = [sys.executable, "-m", "segmenter", "assign", str(path), str(leads_file), "--out", str(assigned)]
    done = subprocess.run(
        [*command, "--holdout", str(SHARE), "--holdout-salt", SALT, "--quiet"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    with assigned.open(newline="") as handle:
        offline = {row["lead_id"]: row for row in csv.DictReader(handle)}

    draw = HoldoutDraw(SHARE, SALT)
    assert {i: e.arm for i, e in streamed.items()} == {i: row["arm"] for i, row in offline.items()}
    assert all(e.arm == draw.arm(i) for i, e in streamed.items())
    held = [e for e in streamed.values() if e.arm == "holdout"]
    assert 0.15 * SENT < len(held) < 0.25 * SENT  # 300 expected; sd 15.5
    assert all(e.strategy == snapshot.baseline.strategy for e in held)
    assert all(e.segment_id == int(offline[e.lead_id]["segment_id"]) for e in streamed.values())
    strategies = {s.id: s.strategy for s in snapshot.segments}
    assert all(e.strategy == strategies[e.segment_id] for e in streamed.values() if e.arm == "segmented")
