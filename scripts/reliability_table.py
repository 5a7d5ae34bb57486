"""Render the fault-tolerance figures the `faults` test suite wrote into docs/reliability.md.

    python scripts/reliability_table.py FIGURES.json [DOC]

Replaces the part of DOC (default docs/reliability.md) between the reliability markers with a table of every
scenario for every engine in FIGURES.json, "not run" where a scenario has no figures (or why the engine refuses it),
and prints the table.
"""

import json
import sys
from pathlib import Path
from typing import Any

# Every scenario of the suite, by the key its test records under (tests/integration/test_faults_*.py).
SCENARIOS = {
    "kill9": "1. Kill -9 mid-stream",
    "rebalance": "2. Rebalance under load",
    "broker_outage": "3. Broker outage",
    "redis_outage": "4. Redis outage",
    "fuzz": "5. Fuzzed input",
    "model_swaps": "6. Model swaps under load",
    "slow_refit": "7. Slow refit does not stall the group",
    "security": "8. Security settings",
    "redis_hang": "9. Redis hung (SIGSTOP)",
    "broker_outage_logs": "10. Broker outage: log lines and CPU",
    "registry_flushall": "11. FLUSHALL on Redis under load",
    "eos_kill9": "12. exactly_once: kill -9 at random points",
    "eos_zombie": "13. exactly_once: a zombie worker",
    "eos_broker_restart": "14. exactly_once: broker restart mid-transaction",
}
# Scenarios an engine refuses at start by design, so their tests skip there (docs/exactly-once.md).
REFUSED = {
    ("agent", key): "refused: exactly_once needs the batch engine" for key in SCENARIOS if key.startswith("eos_")
}
BEGIN, END = "<!-- reliability:begin -->", "<!-- reliability:end -->"
DEFAULT_DOC = Path(__file__).parents[1] / "docs" / "reliability.md"


def _figure(name: str, value: Any) -> str:
    unit = ""
    if name.endswith("_per_s"):
        name, unit = name[: -len("_per_s")], "/s"
    elif name.endswith("_s"):
        name, unit = name[: -len("_s")], " s"
    shown = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{name.replace('_', ' ')}: {shown}{unit}"


def table(data: dict[str, Any]) -> str:
    engines: dict[str, dict[str, Any]] = data["engines"]
    unknown = {key for results in engines.values() for key in results} - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios in the figures: {', '.join(sorted(unknown))}")
    runs = [result["at"] for results in engines.values() for result in results.values()]
    lines = [
        f"Last run: {max(runs, default='never').replace('T', ' ').replace('+00:00', ' UTC')}, "
        f"{data.get('machine', 'unknown machine')}.",
        "",
        "| scenario | engine | outcome | figures | time |",
        "|---|---|---|---|---|",
    ]
    for key, title in SCENARIOS.items():
        for engine in sorted(engines):
            result = engines[engine].get(key)
            if result is None:
                lines.append(f"| {title} | {engine} | {REFUSED.get((engine, key), 'not run')} | | |")
                continue
            figures = "; ".join(_figure(name, value) for name, value in result["figures"].items())
            lines.append(f"| {title} | {engine} | {result['outcome']} | {figures} | {result['seconds']:.0f} s |")
    return "\n".join(lines)


def render(figures_path: Path, doc: Path) -> str:
    rendered = table(json.loads(figures_path.read_text()))
    text = doc.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    doc.write_text(f"{text[:start]}\n{rendered}\n{text[end:]}")
    return rendered


def main(argv: list[str]) -> None:
    if len(argv) not in (1, 2):
        raise SystemExit(__doc__)
    doc = Path(argv[1]) if len(argv) == 2 else DEFAULT_DOC
    sys.stdout.write(render(Path(argv[0]), doc) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
