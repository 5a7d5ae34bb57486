"""`segmenter demo`: fit, publish, and stream leads through embedded Kafka and Redis to a running worker."""

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.live import Live
from rich.table import Table

from models.presentation import money
from models.settings import Settings
from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from segmenter.app import DropInvalid, Quiet, Seed, app, user_errors
from segmenter.console import err, out, print_impact, steps
from segmenter.exceptions import OptionError
from segmenter.leads_io import LeadTable, lead_records, read_leads, write_leads
from segmenter.local_state import STATE_FILE, running, save_state
from segmenter.pipeline import analyze
from segmenter.report import write_report
from streams.clients import kafka_consumer, kafka_producer
from streams.exceptions import ServiceUnavailableError
from streams.local import free_port, start_services, start_worker
from streams.model_plane import publish_model

__all__ = ["BROKEN_EVENTS", "Tally", "print_streamed", "stream_leads"]

# What a careless producer sends; each must land in the DLQ with its reason.
BROKEN_EVENTS: list[tuple[bytes, bytes]] = [
    (b"broken-1", b"this is not JSON"),
    (b"broken-2", b'{"lead_id": "broken-2", "engagement_score": 50}'),
    (b"broken-3", b"\xff\xfe not UTF-8"),
    (b"broken-4", b'{"lead_id": "broken-4", "engagement_score": NaN}'),
    (b"broken-5", b"[1, 2, 3]"),
]


@dataclass
class Tally:
    """What came back from the worker: assignments per segment id, and dead letters."""

    sent: int = 0
    assigned: Counter[int] = field(default_factory=Counter)
    dead_letters: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return sum(self.assigned.values()) + len(self.dead_letters)


async def stream_leads(
    settings: Settings, records: list[tuple[bytes, bytes]], snapshot: ModelSnapshot, *, timeout: float = 120
) -> Tally:
    """Send `records`, then read the segments and DLQ topics until every one came back."""
    tally = Tally()
    names = {s.id: s.name for s in snapshot.segments}
    async with (
        kafka_producer(settings, linger_ms=5) as producer,
        kafka_consumer(settings, settings.segments_topic, settings.dlq_topic) as consumer,
    ):
        with Live(_progress(tally, names, len(records)), console=err, refresh_per_second=8) as live:
            pending = []
            for key, value in records:
                pending.append(await producer.send(settings.leads_topic, value, key=key))
                tally.sent += 1
                if tally.sent % 500 == 0:
                    live.update(_progress(tally, names, len(records)))
            await asyncio.gather(*pending)
            deadline = time.monotonic() + timeout
            while tally.done < len(records):
                if time.monotonic() > deadline:
                    raise ServiceUnavailableError(
                        f"only {tally.done} of {len(records)} leads came back in {timeout:g}s"
                    )
                for records_ in (await consumer.getmany(timeout_ms=200)).values():
                    for message in records_:
                        _count(tally, message.topic == settings.dlq_topic, message.value, message.headers)
                live.update(_progress(tally, names, len(records)))
    err.print()
    return tally


def _count(tally: Tally, dead: bool, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    if dead:
        meta = {k: v.decode() for k, v in headers}
        tally.dead_letters.append((value[:40].decode(errors="replace"), meta["error_class"], meta["reason"]))
    else:
        tally.assigned[json.loads(value)["segment_id"]] += 1


def _progress(tally: Tally, names: dict[int, str], total: int) -> Table:
    table = Table(title="Streaming leads through Kafka", show_header=False, min_width=60)
    table.add_row("sent", f"{tally.sent:,} / {total:,}")
    table.add_row("assigned", f"{sum(tally.assigned.values()):,}")
    table.add_row("dead-lettered", f"{len(tally.dead_letters):,}")
    for segment_id, name in names.items():
        table.add_row(f"  {name}", f"{tally.assigned[segment_id]:,}")
    return table


def print_streamed(snapshot: ModelSnapshot, tally: Tally) -> None:
    """The segments as the worker assigned them, their strategies and revenue, and the dead letters."""
    impact = snapshot.impact([tally.assigned[s.id] for s in snapshot.segments])
    total = sum(tally.assigned.values())
    table = Table(title=f"Leads routed by the worker (model version {snapshot.version})")
    for column in ("id", "segment", "leads", "share", "channel", "sales resource", "expected revenue"):
        table.add_column(column, justify="right" if column in ("id", "leads", "share", "expected revenue") else "left")
    for segment, revenue in zip(snapshot.segments, impact.per_segment, strict=True):
        size = tally.assigned[segment.id]
        table.add_row(
            str(segment.id), segment.name, f"{size:,}", f"{size / total:.1%}" if total else "-",
            segment.strategy.channel, segment.strategy.sales_resource, money(revenue),
        )  # fmt: skip
    out.print(table)
    print_impact(impact)
    dead = Table(title="Dead-lettered events (leads-dlq)")
    for column in ("payload", "error", "reason"):
        dead.add_column(column)
    for payload, error_class, reason in tally.dead_letters:
        dead.add_row(payload, error_class, reason)
    out.print(dead)


def segmenter_command() -> str:
    """How to call this `segmenter` from the shell it was started in: its bare name when that is what the PATH
    finds, else its path (`.venv/bin/segmenter` after `make demo`)."""
    here = Path(sys.executable).parent / "segmenter"
    found = shutil.which("segmenter")
    if found is not None and Path(found).resolve() == here.resolve():
        return "segmenter"
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def keep_running_help(settings: Settings, state_file: Path, leads: Path) -> str:
    exports = "\n".join(f"  export {name}={value}" for name, value in settings.as_env().items())
    command = segmenter_command()
    return (
        f"The broker, Redis and the worker keep running. In another terminal:\n{exports}\n"
        f"  {command} produce {leads}\n  {command} tail --n 20\n"
        f"The live dashboard: http://{settings.web_host}:{settings.web_port}/ (/metrics, /healthz, /readyz).\n"
        f"Stop everything with `{command} local down` (state in {state_file})."
    )


@app.command()
@user_errors
def demo(
    n: Annotated[int, typer.Option("--n", min=100, max=1_000_000, help="How many leads to generate.")] = 5000,
    leads_file: Annotated[
        Path | None, typer.Option("--leads", help="Stream your own leads (.csv, .jsonl or .parquet).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where the leads, model and report go.")] = Path(
        "demo-output"
    ),
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave Kafka, Redis and the worker up afterwards.")
    ] = False,
    seed: Seed = 0,
    drop_invalid: DropInvalid = False,
    quiet: Quiet = False,
) -> None:
    """Fit segments, publish the model, and stream leads through Kafka to a live worker (all embedded)."""
    if keep_running and running():
        raise OptionError(f"the demo's services are still running: `{segmenter_command()} local down` first")
    # SIGTERM unwinds like Ctrl-C, so the children below are stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    table = _leads(leads_file, n, seed, out_dir, drop_invalid)
    try:
        _run(table, out_dir, leads_file or out_dir / "leads.csv", keep_running, seed, quiet)
    except KeyboardInterrupt:
        err.print("interrupted: the worker, Redis and Kafka are stopped and their files removed", highlight=False)
        raise typer.Exit(130) from None


def _run(table: LeadTable, out_dir: Path, leads: Path, keep_running: bool, seed: int, quiet: bool) -> None:
    with ExitStack() as stack:
        try:
            _steps(stack, table, out_dir, leads, keep_running, seed, quiet)
        except KeyboardInterrupt:
            err.print("\ninterrupted: stopping the worker, Redis and Kafka ...", highlight=False)
            raise


def _steps(
    stack: ExitStack, table: LeadTable, out_dir: Path, leads: Path, keep_running: bool, seed: int, quiet: bool
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="segmenter-demo-"))
    stack.callback(shutil.rmtree, workdir, True)
    with steps(quiet) as progress:
        with progress.step("starting Kafka (Tansu) and Redis (Valkey)"):
            kafka, redis = start_services(workdir)
            stack.callback(kafka.stop)
            stack.callback(redis.stop)
        with progress.step("choosing K and fitting", total=9) as bar:
            model, snapshot = fit_model(table.X, config=StrategyConfig(), random_state=seed, on_k=bar.advance)
        (out_dir / "model.json").write_text(snapshot.model_dump_json(indent=1), encoding="utf-8")
        settings = Settings(
            kafka_bootstrap=kafka.url, redis_url=SecretStr(redis.url), app_id="segmenter-demo",
            kafka_session_timeout_seconds=6, web_port=free_port(),  # the default port may be another worker's
        )  # fmt: skip
        with progress.step("starting the worker"):
            child_env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTER_")}
            worker = start_worker(workdir, child_env | settings.as_env())
            stack.callback(worker.stop)
        with progress.step("publishing the model to Redis"):
            asyncio.run(publish_model(settings, snapshot))
    tally = asyncio.run(stream_leads(settings, lead_records(table) + BROKEN_EVENTS, snapshot))
    print_streamed(snapshot, tally)
    with steps(quiet) as progress, progress.step("writing the report"):
        analysis = analyze(model, snapshot, table.X, random_state=seed)
        report = write_report(out_dir / "report", snapshot, analysis)
    out.print(f"report at {report}; model at {out_dir / 'model.json'}", highlight=False)
    if keep_running:
        save_state(workdir, [kafka, redis, worker])
        stack.pop_all()
        out.print(keep_running_help(settings, STATE_FILE, leads), highlight=False)


def _leads(leads_file: Path | None, n: int, seed: int, out_dir: Path, drop_invalid: bool) -> LeadTable:
    if out_dir.exists() and not out_dir.is_dir():
        raise OptionError(f"--out-dir {out_dir}: is a file; give a folder for the leads, model and report")
    if not out_dir.parent.is_dir():
        raise OptionError(f"--out-dir {out_dir}: folder {out_dir.parent} does not exist; create it first")
    out_dir.mkdir(exist_ok=True)
    if leads_file is not None:
        table = read_leads(leads_file, drop_invalid=drop_invalid)
        if len(table) < 100:
            raise OptionError(f"{leads_file} has {len(table)} valid leads; the demo streams at least 100")
        return table
    leads = generate_leads(n, random_state=seed)
    ids = [f"L{i:07d}" for i in range(n)]
    truth = {"true_segment": [leads.segment_names[t] for t in leads.true_segment]}
    write_leads(out_dir / "leads.csv", ids, leads.X, truth)
    return LeadTable(ids, leads.X, truth, Counter())
