"""The figures a fault test measured: printed, and merged into one JSON file per run, keyed by engine and
scenario, from which `scripts/reliability_table.py` renders the table in docs/reliability.md."""

import fcntl
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["FIGURES_ENV", "Figure", "Figures", "save"]

FIGURES_ENV = "SEGMENTER_TEST_FIGURES"
Figure = int | float | str


class Figures:
    """What one test measured, under its scenario's key (the keys the renderer lists)."""

    def __init__(self) -> None:
        self.scenario: str | None = None
        self.values: dict[str, Figure] = {}

    def record(self, scenario: str, **values: Figure) -> None:
        """Keep `values` (names with their unit, as they should read in the table) and print them."""
        self.scenario = scenario
        self.values |= values
        shown = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in values.items())
        sys.stdout.write(f"\n[figures] {scenario}: {shown}\n")


def save(path: Path, engine: str, figures: Figures, outcome: str, seconds: float) -> None:
    """Merge one test's figures into the file at `path` (several pytest runs may write one file)."""
    if figures.scenario is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        text = file.read()
        data = json.loads(text) if text.strip() else {"engines": {}}
        data["machine"] = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
        data["engines"].setdefault(engine, {})[figures.scenario] = {
            "outcome": outcome,
            "seconds": round(seconds, 1),
            "figures": figures.values,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        file.seek(0)
        file.truncate()
        json.dump(data, file, indent=2)
        file.write("\n")
