"""The markdown table of a batch-size sweep: one row per sweep and `SEGMENTER_BATCH_SIZE`, from the reports of
`bench/throughput.py --variants e --engines batch,batch+exactly_once` named `batch-size-SIZE-SWEEP.json` (the size
the workers of that report ran with, each given it by `--worker-env SEGMENTER_BATCH_SIZE=SIZE`, which the report
records and this checks, or by the benchmark's environment, which it does not record). A failed run is left out.

    .venv/bin/python bench/batch_size_table.py bench/results/issue20
"""

import argparse
import json
import re
import statistics
from pathlib import Path

NAME = re.compile(r"batch-size-(?P<size>\d+)-(?P<sweep>[\w-]+)\.json")
ENGINES = ("e:batch", "e:batch+exactly_once")
SETTING = "SEGMENTER_BATCH_SIZE"


def table(folder: Path) -> str:
    lines = [
        "| sweep | batch size | at_least_once events/s (runs) | exactly_once events/s (runs) | ratio of medians |",
        "|---|---:|---|---|---:|",
    ]
    reports = sorted(
        ((m["sweep"], int(m["size"]), path) for path in folder.iterdir() if (m := NAME.fullmatch(path.name))),
    )
    if not reports:
        raise SystemExit(f"no batch-size-SIZE-SWEEP.json in {folder}")
    for sweep, size, path in reports:
        report = json.loads(path.read_text())
        given = [item.partition("=")[2] for item in report.get("worker_env", []) if item.startswith(f"{SETTING}=")]
        if given and int(given[-1]) != size:
            raise SystemExit(f"{path}: its workers ran with {SETTING}={given[-1]}, not the {size} of its name")
        rows = [row for row in report["rows"] if "failed" not in row]
        runs = {engine: [row["events_per_s"] for row in rows if row["variant"] == engine] for engine in ENGINES}
        if not all(runs.values()):
            raise SystemExit(f"{path}: no run of {' or '.join(e for e in ENGINES if not runs[e])} that did not fail")
        medians = [statistics.median(runs[engine]) for engine in ENGINES]
        cells = [
            f"{median:,.0f} ({', '.join(f'{v:,}' for v in runs[engine])})"
            for engine, median in zip(ENGINES, medians, strict=True)
        ]
        lines.append(f"| {sweep} | {size:,} | {cells[0]} | {cells[1]} | {medians[1] / medians[0]:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where the batch-size-SIZE-SWEEP.json reports are")
    print(table(parser.parse_args().folder))


if __name__ == "__main__":
    main()
