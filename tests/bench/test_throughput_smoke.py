"""A smoke run of the throughput benchmark (bench/throughput.py): a few leads, one run of each cheap variant,
on the embedded broker and Redis (or SEGMENTER_TEST_KAFKA / SEGMENTER_TEST_REDIS). It checks that the harness
runs end to end and that every variant processed every lead; the figures themselves mean nothing at this size.
Quix Streams (c) joins only if its virtualenv was already made by a full run: tests never build it."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
N = 1000


def quix_venv_ready() -> bool:
    stamp = BENCH / ".venv-quix" / ".requirements-sha256"
    digest = hashlib.sha256((BENCH / "requirements-quix.txt").read_bytes()).hexdigest()
    return stamp.exists() and stamp.read_text().strip() == digest


@pytest.mark.slow
def test_every_variant_processes_every_lead(tmp_path: Path) -> None:
    variants = ["a", "b", "d", "e"] + (["c"] if quix_venv_ready() else [])
    report_file = tmp_path / "report.json"
    command = [sys.executable, str(BENCH / "throughput.py"), "--n", str(N), "--runs", "1"]
    command += ["--variants", ",".join(variants), "--engines", "agent", "--latency-seconds", "1", "--read-back"]
    command += ["--stall-seconds", "60", "--keep-workdir", str(tmp_path / "work"), "--json", str(report_file)]
    if kafka := os.environ.get("SEGMENTER_TEST_KAFKA"):
        command += ["--bootstrap", kafka]
    if redis := os.environ.get("SEGMENTER_TEST_REDIS"):
        command += ["--redis", redis]

    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(report_file.read_text())
    rows = {row["variant"]: row for row in report["rows"]}
    expected = {"a", "b", "d", "e:agent"} | ({"c"} if "c" in variants else set())
    assert set(rows) == expected
    for name, row in rows.items():
        assert "failed" not in row, f"{name}: {row['failed']}"
        assert row["outputs"] == N, name  # distinct leads that came out, counted on the output topic
        assert row["latency"]["events"] > 0, name
        assert 0 < row["latency"]["input_read_back_ms"]["p50"] <= row["latency"]["ms"]["p99"], name  # one hop of two
        assert row["peak_rss_mb"] > 0, name
        if name != "a":  # (a) passes the lead through; the others name the model's segment for every lead
            assert row["wrong_segment"] == 0, name
    assert report["summary"]["variants"]["e:agent"]["complete"]
    worker = rows["e:agent"]  # fed the shared refit sample as in production: every lead it routed is in it
    assert worker["sample_leads"] == N + worker["latency"]["events"]
    assert "| (e) segmenter worker, `SEGMENTER_ENGINE=agent` |" in done.stdout
