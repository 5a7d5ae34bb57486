"""Where the worker's time goes: py-spy samples `segmenter worker` (once per engine) while it routes
pre-loaded leads (on the embedded broker unless one is given), and the functions holding the most samples
are printed (and, with --write-docs, written between the `profile` markers of docs/performance.md)."""

import argparse
import asyncio
import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from kafka_io import create_topics, preload  # noqa: E402
from throughput import Data, prepare, services  # noqa: E402
from throughput_report import write_docs  # noqa: E402
from variant_process import start_segmenter_worker  # noqa: E402

OURS = re.compile(r"\((streams|models|segmentation)/")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=150_000, help="leads pre-loaded for each engine")
    parser.add_argument("--seconds", type=int, default=8, help="how long py-spy samples")
    parser.add_argument("--engines", default="agent,batch", help="engines to profile")
    parser.add_argument("--top", type=int, default=12, help="functions listed per engine")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: start the embedded Tansu)")
    parser.add_argument("--redis", help="redis:// URL (default: start the embedded Valkey)")
    parser.add_argument("--keep-raw", type=Path, metavar="DIR", help="keep py-spy's raw samples in DIR")
    parser.add_argument("--write-docs", type=Path, metavar="FILE", help="rewrite the profile section of FILE")
    return parser.parse_args()


def summarize(raw: Path, top: int) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """Samples, then (function, share) by own time and, for our modules, by time including callees."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            if OURS.search(frame):
                inclusive[frame] += n
    share = [(f, n / total) for f, n in own.most_common(top)]
    ours = [(f, n / total) for f, n in inclusive.most_common(top)]
    return total, share, ours


def profile(engine: str, args: argparse.Namespace, data: Data, workdir: Path, bootstrap: str, redis_url: str) -> str:
    rundir = workdir / f"{engine}-{uuid.uuid4().hex[:8]}"  # unique names: the broker may be a long-running one
    rundir.mkdir()
    source, sink = f"profile-in-{rundir.name}", f"profile-out-{rundir.name}"
    asyncio.run(create_topics(bootstrap, {source: 2, sink: 2}))
    asyncio.run(preload(bootstrap, source, data.records))
    started = start_segmenter_worker(engine, rundir, bootstrap, redis_url, source, sink, data.model_file, [])
    raw = rundir / "py-spy.txt"
    try:
        subprocess.run(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(started.process.pid)]
            + ["--duration", str(args.seconds), "--rate", "200", "--format", "raw", "--output", str(raw)],
            check=True,
            capture_output=True,
        )
    finally:
        started.stop()
    if args.keep_raw:
        args.keep_raw.mkdir(parents=True, exist_ok=True)
        shutil.copy(raw, args.keep_raw / f"{engine}.txt")
    total, own, ours = summarize(raw, args.top)
    lines = [f"**`SEGMENTER_ENGINE={engine}`** ({total:,} samples of the main thread and Faust's consumer thread)", ""]
    lines += ["| own time | function |", "|---:|---|"] + [f"| {s:.1%} | `{f}` |" for f, s in own]
    lines += ["", "| with callees | our function |", "|---:|---|"] + [f"| {s:.1%} | `{f}` |" for f, s in ours]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        data = prepare(args.n, 0, workdir)
        bootstrap, redis_url = stack.enter_context(services(args.bootstrap, args.redis, workdir))
        sections = [profile(e, args, data, workdir, bootstrap, redis_url) for e in args.engines.split(",")]
    broker = f"the broker at {args.bootstrap}" if args.bootstrap else "the embedded broker"
    header = (
        f"Sampled {datetime.now(UTC).isoformat(timespec='seconds')} by `bench/profile_worker.py`: py-spy at "
        f"200 Hz for {args.seconds} s while each worker routed {args.n:,} pre-loaded leads on {broker}."
    )
    text = "\n\n".join([header, *sections])
    print(text)
    if args.write_docs:
        write_docs(args.write_docs, text, "profile")


if __name__ == "__main__":
    main()
