"""Benchmark the streaming worker against plain aiokafka, Quix Streams and a naive Faust agent, and print
JSON and a table of events/s, latency percentiles at a fixed rate, and peak RSS.

Rerun: `make bench-throughput` or `.venv/bin/python bench/throughput.py --write-docs docs/performance.md`.
"""

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

# As the `segmenter` command does: OpenMP threads wait passively instead of spinning (before sklearn loads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from kafka_io import Outputs, create_topics, delete_topics, preload, produce_paced  # noqa: E402
from throughput_report import environment, markdown, summarize, write_docs  # noqa: E402
from variant_process import (  # noqa: E402
    Started,
    VariantFailed,
    ensure_quix_venv,
    peak_rss_mb,
    sample_leads,
    start_script,
    start_segmenter_worker,
)

from models.strategies import StrategyConfig  # noqa: E402
from models.training import fit_model  # noqa: E402
from segmentation.synthetic import generate_leads  # noqa: E402
from segmenter.leads_io import LeadTable, lead_records  # noqa: E402
from streams.local.services import start_kafka, start_redis

HERE = Path(__file__).resolve().parent
VARIANTS = {
    "a": "raw aiokafka, passthrough",
    "b": "raw aiokafka, same job (batches, numpy)",
    "c": "Quix Streams, same job (per event)",
    "d": "naive Faust agent, same job (per event)",
    "e": "segmenter worker",
}
ENGINES = ("agent", "batch")
MODEL_K, MODEL_LEADS = 5, 10_000
# CRM events carry more than the features: with these the lead events are ~400 bytes, as in the issue.
EXTRA_FIELDS = (
    b',"occurred_at":"2026-11-27T10:15:30.123456Z","source":"web-form","utm_campaign":"q4-enterprise-webinar"}'
)


@dataclass(frozen=True)
class Data:
    """What every variant gets: the same leads, model and parameters."""

    records: list[tuple[bytes, bytes]]  # throughput phase, keys L...
    latency_records: list[tuple[bytes, bytes]]  # the same leads as Q..., for the latency phase
    expected: dict[bytes, int]  # the model's segment id per key
    model_file: Path
    params_file: Path


@dataclass(frozen=True)
class Context:
    args: argparse.Namespace
    bootstrap: str
    redis_url: str | None
    data: Data
    workdir: Path
    quix_python: Path | None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="leads per run (throughput phase)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each variant, alternating variants")
    parser.add_argument("--variants", default="a,b,c,d,e", help="comma-separated subset of a,b,c,d,e")
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="engines to run (e) with, SEGMENTER_ENGINE; batch+exactly_once also sets SEGMENTER_PROCESSING_GUARANTEE "
        "and reads its outputs with read_committed",
    )
    parser.add_argument("--rate", type=float, help="latency phase events/s (default: half the run's own max)")
    parser.add_argument("--latency-seconds", type=float, default=10, help="length of the latency phase")
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        help="leads sent in the latency phase's first seconds are not in its percentiles (connections, caches); "
        "default 2, or half the phase if that is shorter",
    )
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: start the embedded Tansu)")
    parser.add_argument("--broker-label", help="what the --bootstrap broker is, for the report (e.g. its version)")
    parser.add_argument("--redis", help="redis:// URL for (e) (default: start the embedded Valkey)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the leads and the model")
    parser.add_argument("--fetch-max-wait-ms", type=int, help="consumer fetch wait of (a)-(c) (default: the client's)")
    parser.add_argument("--stall-seconds", type=float, default=120, help="fail a run after this long without output")
    parser.add_argument("--quix-venv", type=Path, default=HERE / ".venv-quix", help="Quix Streams' virtualenv")
    parser.add_argument(
        "--read-back",
        action="store_true",
        help="in the latency phase, also read the leads back from the input topic (one hop, no variant: the "
        "floor of each of a variant's two hops); the extra reader costs the benchmark's process CPU",
    )
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE", help="extra worker setting")
    parser.add_argument("--keep-workdir", type=Path, metavar="DIR", help="keep logs and files in DIR")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the JSON report to FILE")
    parser.add_argument("--write-docs", type=Path, metavar="FILE", help="rewrite the throughput section of FILE")
    parser.add_argument(
        "--docs-section", default="throughput", help="the markers (<!-- NAME:begin/end -->) --write-docs rewrites"
    )
    parser.add_argument(
        "--from-json", type=Path, metavar="FILE", help="run nothing: summarize a report written by --json again"
    )
    args = parser.parse_args()
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if unknown := set(args.variants) - set(VARIANTS):
        parser.error(f"unknown variants {sorted(unknown)}: choose from {','.join(VARIANTS)}")
    if args.n < 10 or args.runs < 1 or args.latency_seconds <= 0 or (args.rate is not None and args.rate <= 0):
        parser.error("--n must be at least 10, --runs at least 1, --latency-seconds and --rate positive")
    if args.warmup_seconds is None:
        args.warmup_seconds = min(2.0, args.latency_seconds / 2)
    if not 0 <= args.warmup_seconds < args.latency_seconds:
        parser.error("--warmup-seconds must be at least 0 and shorter than --latency-seconds")
    if bad := [item for item in args.worker_env if "=" not in item]:
        parser.error(f"--worker-env takes NAME=VALUE, got {bad[0]!r}")
    return args


def prepare(n: int, seed: int, workdir: Path) -> Data:
    """N generated leads as the worker expects them, a K=5 model fitted on other leads, its parameters
    for the standalone variants, and each lead's segment according to the model."""
    leads = generate_leads(n, random_state=seed)
    table = LeadTable([f"L{i:07d}" for i in range(n)], leads.X, {}, Counter())
    records = [(key, value[:-1] + EXTRA_FIELDS) for key, value in lead_records(table)]
    latency = [(b"Q" + key[1:], value.replace(b'"lead_id":"L', b'"lead_id":"Q', 1)) for key, value in records]
    training = generate_leads(MODEL_LEADS, random_state=seed + 1)
    model, snapshot = fit_model(training.X, config=StrategyConfig(), k=MODEL_K, version=1, random_state=seed)
    if snapshot.pca is not None:
        raise RuntimeError("the benchmark's job has no PCA step")
    model_file = workdir / "model.json"
    model_file.write_text(snapshot.model_dump_json())
    params = {
        "version": snapshot.version,
        "features": snapshot.features,
        "log_features": snapshot.log_features,
        "scaler_mean": snapshot.scaler_mean,
        "scaler_scale": snapshot.scaler_scale,
        "segments": [
            {
                "id": s.id,
                "name": s.name,
                "channel": s.strategy.channel,
                "centroid": s.centroid,
                "p99": s.distance_quantiles["p99"],
            }
            for s in snapshot.segments
        ],
    }
    params_file = workdir / "params.json"
    params_file.write_text(json.dumps(params))
    ids = [snapshot.segments[i].id for i in model.assign(leads.X).segment.tolist()]
    expected = {key: ids[i] for i, (key, _) in enumerate(records)}
    expected |= {key: ids[i] for i, (key, _) in enumerate(latency)}
    return Data(records, latency, expected, model_file, params_file)


def order(args: argparse.Namespace) -> list[str]:
    """The variants of one run, in order; (e) once per engine, as `e:ENGINE`."""
    return [v for v in VARIANTS if v in args.variants and v != "e"] + (
        [f"e:{engine}" for engine in args.engines] if "e" in args.variants else []
    )


async def wait_for(outputs: Outputs, prefix: bytes, count: int, started: Started, stall_seconds: float) -> None:
    """Until `count` distinct outputs with keys starting with `prefix` arrived; raises `VariantFailed`
    if the process exits or nothing new arrives for `stall_seconds`."""
    last, last_change = -1, time.monotonic()
    while (got := outputs.counts[prefix]) < count:
        outputs.check()
        if started.process.poll() is not None:
            raise VariantFailed(f"exited with code {started.process.returncode}: {started.first_error()}")
        if got != last:
            last, last_change = got, time.monotonic()
        elif time.monotonic() - last_change > stall_seconds:
            raise VariantFailed(f"stalled at {got:,} of {count:,} outputs for {stall_seconds:g} s")
        await asyncio.sleep(0.1)


def percentiles(values_ms: list[float]) -> dict[str, float]:
    p50, p95, p99 = np.percentile(np.array(values_ms), [50, 95, 99])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2)}


def slowest_by_second(answered: list[tuple[tuple[int, float, bytes], float]], start: float) -> list[float]:
    """The slowest lead of each second of sending, from `start`: where in the run the tail is (a stall every
    few seconds shows as a pattern; noise does not)."""
    slowest: dict[int, float] = {}
    for (_, got, _), at in answered:
        second = int(at - start)
        slowest[second] = max(slowest.get(second, 0.0), (got - at) * 1000)
    return [round(slowest.get(second, 0.0), 1) for second in range(max(slowest, default=-1) + 1)]


def check_segments(outputs: Outputs, data: Data) -> int:
    """How many outputs name another segment than the model's (parsed after the clock stopped)."""
    wrong = 0
    for key, (_, _, value) in outputs.seen.items():
        if json.loads(value).get("segment_id") != data.expected.get(key):
            wrong += 1
    return wrong


async def run_variant(name: str, run: int, ctx: Context) -> dict[str, Any]:
    """One run of one variant on fresh topics: throughput on the pre-loaded leads, then latency at a fixed rate."""
    args, data = ctx.args, ctx.data
    tag = f"{name.replace(':', '-').replace('+', '-')}-{run}-{os.urandom(3).hex()}"
    rundir = ctx.workdir / tag
    rundir.mkdir()
    source, sink, group = f"bench-in-{tag}", f"bench-out-{tag}", f"bench-{tag}"
    row: dict[str, Any] = {"variant": name, "run": run, "load_avg_1min": [round(os.getloadavg()[0], 2)]}
    topics = {source: 2, sink: 2}
    if name == "d":
        topics[f"{group}-__assignor-__leader"] = 1  # Faust's, created up front as the worker's are
    await create_topics(ctx.bootstrap, topics)
    row["preload_s"] = round(await preload(ctx.bootstrap, source, data.records), 2)
    print(f"run {run} ({name}): {len(data.records):,} leads loaded in {row['preload_s']} s", file=sys.stderr)
    try:
        isolation = "read_committed" if name.endswith("+exactly_once") else "read_uncommitted"
        async with Outputs(ctx.bootstrap, sink, isolation_level=isolation) as outputs:
            launched = time.time()
            if name.startswith("e:"):
                started = await asyncio.to_thread(
                    start_segmenter_worker,
                    name.split(":", 1)[1],
                    rundir,
                    ctx.bootstrap,
                    ctx.redis_url or "",
                    source,
                    sink,
                    data.model_file,
                    args.worker_env,
                )
            else:
                python = ctx.quix_python if name == "c" else Path(sys.executable)
                where = {"--bootstrap": ctx.bootstrap, "--input": source, "--output": sink, "--group": group}
                started = start_script(name, rundir, python, where, data.params_file, args.fetch_max_wait_ms)
            try:
                await measure(row, outputs, started, launched, ctx)
            finally:
                started.stop()
            if started.redis_key_prefix is not None and ctx.redis_url:  # (e) feeds the shared refit sample
                row["sample_leads"] = sample_leads(ctx.redis_url, started.redis_key_prefix)
                print(f"run {run_label(row)}: refit sample of {row['sample_leads']:,} leads", file=sys.stderr)
            row["duplicates"] = outputs.total - len(outputs.seen)
            if name != "a":
                row["wrong_segment"] = check_segments(outputs, data)
    except VariantFailed as failure:
        row["failed"] = str(failure)
        print(f"run {run} ({name}): failed: {failure}", file=sys.stderr)
    row["load_avg_1min"].append(round(os.getloadavg()[0], 2))
    await delete_topics(ctx.bootstrap, list(topics))
    return row


async def measure(row: dict[str, Any], outputs: Outputs, started: Started, launched: float, ctx: Context) -> None:
    args, data = ctx.args, ctx.data
    n = len(data.records)
    await wait_for(outputs, b"L", n, started, args.stall_seconds)
    done = [(ts, got, len(value)) for key, (ts, got, value) in outputs.seen.items() if key.startswith(b"L")]
    stamps = [ts for ts, _, _ in done]
    if min(stamps) / 1000 < launched - 1:
        raise VariantFailed("its outputs carry timestamps from before it started (copied from the input?)")
    span = max((max(stamps) - min(stamps)) / 1000, 0.001)
    row.update(outputs=len(done), seconds=round(span, 3), events_per_s=round(n / span))
    received = [got for _, got, _ in done]  # a cross-check on the clock: when our consumer got them
    row["events_per_s_by_receipt"] = round(n / max(max(received) - min(received), 0.001))
    row["output_bytes"] = round(sum(size for _, _, size in done) / len(done))
    print(f"run {run_label(row)}: {n:,} in {span:.2f} s, {n / span:,.0f} events/s", file=sys.stderr)

    rate = args.rate or max(n / span / 2, 1.0)
    count = min(len(data.latency_records), max(int(rate * args.latency_seconds), 1))
    async with contextlib.AsyncExitStack() as stack:
        if args.read_back:
            inputs = await stack.enter_async_context(Outputs(ctx.bootstrap, started.input_topic, from_end=True))
        sent, acked = await produce_paced(ctx.bootstrap, started.input_topic, data.latency_records[:count], rate)
        await wait_for(outputs, b"Q", count, started, args.stall_seconds)
        if args.read_back:
            await wait_for(inputs, b"Q", count, started, args.stall_seconds)
    first, last = min(sent.values()), max(sent.values())
    warm = first + min(args.warmup_seconds, (last - first) / 2)  # fewer latency leads than the phase asked for
    measured = {key: at for key, at in sent.items() if at >= warm}
    answered = [(outputs.seen[key], at) for key, at in measured.items()]
    row["latency"] = {
        "rate": round(rate),
        "achieved_rate": round((len(sent) - 1) / (last - first)) if last > first else None,
        "events": count,
        "warmup_events": count - len(answered),  # sent, and not in the percentiles
        "ms": percentiles([(got - at) * 1000 for (_, got, _), at in answered]),
        "ms_by_create_time": percentiles([ts - at * 1000 for (ts, _, _), at in answered]),
        "max_ms_by_second": slowest_by_second(answered, warm),
        "input_ack_ms": percentiles([(acked[key] - at) * 1000 for key, at in measured.items()]),
    }
    if args.read_back:
        read_back = [(inputs.seen[key][1] - at) * 1000 for key, at in measured.items()]
        row["latency"]["input_read_back_ms"] = percentiles(read_back)
    row["peak_rss_mb"] = peak_rss_mb(started.process.pid)
    ms = row["latency"]["ms"]
    print(
        f"run {run_label(row)}: latency at {rate:,.0f}/s p50 {ms['p50']} p95 {ms['p95']} p99 {ms['p99']} ms, "
        f"peak RSS {row['peak_rss_mb']} MB",
        file=sys.stderr,
    )


def run_label(row: dict[str, Any]) -> str:
    return f"{row['run']} ({row['variant']})"


@contextmanager
def services(
    bootstrap: str | None, redis_url: str | None, workdir: Path, *, redis: bool = True
) -> Iterator[tuple[str, str | None]]:
    """The Kafka bootstrap and Redis URL to use: given, or the embedded Tansu and (if `redis`) Valkey."""
    with ExitStack() as stack:
        if bootstrap is None:
            kafka = start_kafka(workdir)
            stack.callback(kafka.stop)
            bootstrap = kafka.url
        if redis_url is None and redis:
            valkey = start_redis(workdir)
            stack.callback(valkey.stop)
            redis_url = valkey.url
        yield bootstrap, redis_url


def main() -> None:
    args = parse_args()
    if args.from_json is not None:
        report = json.loads(args.from_json.read_text())
        report["summary"] = summarize(report)  # the goals name the current default engine
        publish(report, args)
        return
    with ExitStack() as stack:
        if args.keep_workdir is not None:
            args.keep_workdir.mkdir(parents=True, exist_ok=True)
            workdir = args.keep_workdir.resolve()
        else:
            workdir = Path(stack.enter_context(TemporaryDirectory(prefix="bench-throughput-")))
        quix_python = ensure_quix_venv(args.quix_venv, HERE / "requirements-quix.txt") if "c" in args.variants else None
        print(f"generating {args.n:,} leads and fitting a K={MODEL_K} model", file=sys.stderr)
        data = prepare(args.n, args.seed, workdir)
        bootstrap, redis_url = stack.enter_context(
            services(args.bootstrap, args.redis, workdir, redis="e" in args.variants)
        )
        ctx = Context(args, bootstrap, redis_url, data, workdir, quix_python)
        rows: list[dict[str, Any]] = []
        failed: dict[str, str] = {}  # a variant that failed to start is not started again
        for run in range(1, args.runs + 1):
            for name in order(args):
                if name in failed:
                    rows.append({"variant": name, "run": run, "failed": failed[name]})
                    continue
                row = asyncio.run(run_variant(name, run, ctx))
                if row.get("failed", "").startswith("did not start"):
                    failed[name] = row["failed"]
                rows.append(row)
    leads_bytes = sum(len(value) for _, value in data.records) / len(data.records)
    report = {
        "n": args.n,
        "runs": args.runs,
        "partitions": 2,
        "lead_bytes": round(leads_bytes),
        "latency_seconds": args.latency_seconds,
        "warmup_seconds": args.warmup_seconds,
        "fixed_rate": args.rate,
        "broker": "embedded Tansu" if args.bootstrap is None else f"{args.broker_label or 'Kafka'} at {args.bootstrap}",
        "worker_env": args.worker_env,
        "fetch_max_wait_ms": args.fetch_max_wait_ms,
        "variants": {name: VARIANTS[name.split(":")[0]] for name in order(args)},
        "environment": environment(quix_python),
        "rows": rows,
    }
    report["summary"] = summarize(report)
    publish(report, args)


def publish(report: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the report and its table; write them where the options say."""
    table = markdown(report)
    print(json.dumps(report, indent=2))
    print()
    print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.write_docs is not None:
        write_docs(args.write_docs, table, args.docs_section)
        print(f"\nwrote {args.write_docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
