"""The worker's CPU per lead, this checkout against other commits: each version's `segmenter worker` routes
the same pre-loaded leads, runs alternating, and its process's CPU time (from /proc) is divided by the leads.

CPU per lead moves far less between runs than events/s does on a shared machine, so small changes to the
hot path show here first; `bench/throughput.py` remains the measure of the goals. Linux only.
"""

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402
from kafka_io import create_topics, preload  # noqa: E402
from throughput import Data, prepare, services  # noqa: E402
from throughput_report import write_docs  # noqa: E402
from variant_process import start_segmenter_worker  # noqa: E402

PARTITIONS = 2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("refs", nargs="*", help="git commits to compare with this checkout")
    parser.add_argument("--n", type=int, default=500_000, help="leads per run")
    parser.add_argument("--runs", type=int, default=4, help="runs per version, alternating")
    parser.add_argument("--engine", default="batch", help="SEGMENTER_ENGINE")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: start the embedded Tansu)")
    parser.add_argument("--redis", help="redis:// URL (default: start the embedded Valkey)")
    parser.add_argument("--timeout", type=float, default=300, help="give up on a run after this many seconds")
    parser.add_argument("--write-docs", type=Path, metavar="FILE", help="rewrite the worker-cpu section of FILE")
    args = parser.parse_args()
    for ref in args.refs:
        known = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], capture_output=True
        )
        if known.returncode != 0:
            parser.error(f"{ref!r} is not a commit of this repository")
    if args.write_docs is not None:
        args.write_docs = args.write_docs.resolve()  # the script works in a directory of its own
    return args


def _short(ref: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref], capture_output=True, text=True, check=True
    ).stdout.strip()


def usage(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system, every thread) and minor page faults of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(fields[7])


async def committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return sum([await consumer.committed(TopicPartition(topic, p)) or 0 for p in range(PARTITIONS)])
    finally:
        await consumer.stop()


def one_run(
    version: str, code: Path, args: argparse.Namespace, data: Data, services: tuple[str, str]
) -> dict[str, Any]:
    """One worker of `version` (its code at `code`) routes the leads; its CPU per lead and its rate."""
    bootstrap, redis_url = services
    workdir = data.model_file.parent
    rundir = workdir / f"run-{uuid.uuid4().hex[:8]}"
    rundir.mkdir()
    source, sink = f"cpu-in-{rundir.name}", f"cpu-out-{rundir.name}"
    asyncio.run(create_topics(bootstrap, {source: PARTITIONS, sink: PARTITIONS}))
    asyncio.run(preload(bootstrap, source, data.records))
    env = [f"PYTHONPATH={code}"]
    worker = start_segmenter_worker(args.engine, rundir, bootstrap, redis_url, source, sink, data.model_file, env)
    try:
        at_ready, first = usage(worker.process.pid), None
        deadline = time.monotonic() + args.timeout
        while (done := asyncio.run(committed(bootstrap, f"bench-{rundir.name}", source))) < args.n:
            if worker.process.poll() is not None or time.monotonic() > deadline:
                what = "exited" if worker.process.poll() is not None else "stalled"
                raise SystemExit(f"{version}: the worker {what}: {worker.first_error()}")
            if first is None and done:
                first = (done, time.monotonic())
            time.sleep(0.1)
        at_end = usage(worker.process.pid)
        end = time.monotonic()
    finally:
        worker.stop()
    if first is None:  # the CPU from ready to the end would be that of an idle worker
        raise SystemExit(f"{version}: all {args.n:,} leads were routed before the worker was ready: raise --n")
    rate = (args.n - first[0]) / (end - first[1])
    return {
        "version": version,
        "cpu_us_per_lead": round((at_end[0] - at_ready[0]) / args.n * 1e6, 1),
        "page_faults_per_lead": round((at_end[1] - at_ready[1]) / args.n, 3),
        "leads_per_s": round(rate),
    }


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        os.chdir(workdir)  # `python -m` puts the working directory first on the path: keep it clear of any checkout
        versions = {"this checkout": ROOT}
        for ref in args.refs:
            tree = workdir / f"tree-{len(versions)}"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref], check=True)
            stack.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)])
            versions[_short(ref)] = tree
        data = prepare(args.n, 0, workdir)
        bootstrap, redis_url = stack.enter_context(services(args.bootstrap, args.redis, workdir))
        runs = []
        for _ in range(args.runs):
            for version, code in versions.items():
                runs.append(one_run(version, code, args, data, (bootstrap, str(redis_url))))
                print(runs[-1], file=sys.stderr, flush=True)
    broker = f"the broker at {args.bootstrap}" if args.bootstrap else "the embedded broker"
    lines = [
        f"Measured {datetime.now(UTC).isoformat(timespec='seconds')} by `bench/worker_cpu.py` on {broker}: "
        f"{args.n:,} pre-loaded leads, `SEGMENTER_ENGINE={args.engine}`, {args.runs} runs per version, "
        "alternating; medians. CPU: the worker process's user + system time from ready to the last commit.",
        "",
        "| version | CPU µs per lead | runs | leads/s | runs | page faults per lead |",
        "|---|---:|---|---:|---|---:|",
    ]
    for version in versions:
        mine = [r for r in runs if r["version"] == version]
        cpu, rate = [r["cpu_us_per_lead"] for r in mine], [r["leads_per_s"] for r in mine]
        faults = statistics.median(r["page_faults_per_lead"] for r in mine)
        label = version if version == "this checkout" else f"`{version}`"
        lines.append(
            f"| {label} | {statistics.median(cpu):.1f} | {cpu} | {statistics.median(rate):,.0f} | {rate} | {faults} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        write_docs(args.write_docs, text, "worker-cpu")


if __name__ == "__main__":
    main()
