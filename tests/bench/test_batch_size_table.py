"""bench/batch_size_table.py: one row per sweep and size, the medians' ratio from the reports' own runs."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def report(
    folder: Path, name: str, at_least_once: list[int], exactly_once: list[int], worker_env: list[str] | None = None
) -> None:
    rows: list[dict[str, object]] = [{"variant": "e:batch", "events_per_s": v} for v in at_least_once]
    rows += [{"variant": "e:batch+exactly_once", "events_per_s": v} for v in exactly_once]
    rows.append({"variant": "e:batch+exactly_once", "failed": "exited with code 1"})  # as throughput.py writes one
    (folder / name).write_text(json.dumps({"rows": rows, "worker_env": worker_env or []}))


def table(folder: Path) -> subprocess.CompletedProcess[str]:
    script = ROOT / "bench" / "batch_size_table.py"
    return subprocess.run([sys.executable, str(script), str(folder)], capture_output=True, text=True, check=False)


def test_each_sweep_and_size_is_a_row_with_the_ratio_of_medians(tmp_path: Path) -> None:
    report(tmp_path, "batch-size-4000-a.json", [20_000, 10_000, 30_000], [17_000, 1, 99_000])
    report(tmp_path, "batch-size-1000-a.json", [10_000], [7_000])
    (tmp_path / "other.json").write_text("{}")
    done = table(tmp_path)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()[2:]
    assert rows == [
        "| a | 1,000 | 10,000 (10,000) | 7,000 (7,000) | 0.70 |",
        "| a | 4,000 | 20,000 (20,000, 10,000, 30,000) | 17,000 (17,000, 1, 99,000) | 0.85 |",
    ]


def test_an_engine_whose_runs_all_failed_is_refused_in_one_line(tmp_path: Path) -> None:
    report(tmp_path, "batch-size-4000-a.json", [20_000], [])
    done = table(tmp_path)
    assert done.returncode == 1 and "no run of e:batch+exactly_once" in done.stderr and "Traceback" not in done.stderr


def test_a_report_whose_workers_ran_another_size_is_refused(tmp_path: Path) -> None:
    report(tmp_path, "batch-size-4000-a.json", [20_000], [17_000], ["SEGMENTER_BATCH_SIZE=1000"])
    done = table(tmp_path)
    assert done.returncode == 1 and "SEGMENTER_BATCH_SIZE=1000, not the 4000" in done.stderr
