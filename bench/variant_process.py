"""Starting, watching and stopping the variants of bench/throughput.py, each in a process of its own."""

import hashlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import redis

from models.settings import Settings
from streams.clients.redis_client import tagged_key
from streams.exceptions import ServiceUnavailableError
from streams.local.services import start_worker, terminate

__all__ = [
    "Started",
    "VariantFailed",
    "ensure_quix_venv",
    "peak_rss_mb",
    "sample_leads",
    "start_script",
    "start_segmenter_worker",
]

VARIANTS_DIR = Path(__file__).resolve().parent / "variants"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ERROR = re.compile(r"\[ERROR\]|^error:|^[\w.]*(Error|Exception)\b")


class VariantFailed(Exception):
    """A variant that did not start, exited, or stalled; the message says which and why."""


@dataclass
class Started:
    """A running variant: its process, its log, and the topic it consumes."""

    process: subprocess.Popen[bytes]
    log_path: Path
    input_topic: str
    redis_key_prefix: str | None = None  # the segmenter worker's

    def first_error(self) -> str:
        return first_error(self.log_path)

    def stop(self, timeout: float = 30) -> None:
        terminate(self.process, timeout)


def first_error(log_path: Path) -> str:
    """The first line of a log that reports an error, else its last line."""
    try:
        lines = [_ANSI.sub("", line).strip() for line in log_path.read_text(errors="replace").splitlines()]
    except OSError:
        return f"no log at {log_path}"
    lines = [line for line in lines if line]
    found = next((line for line in lines if _ERROR.search(line)), lines[-1] if lines else "nothing logged")
    return found[:300]


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set size (VmHWM) in MB, read while it still runs."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return round(int(match.group(1)) * 1024 / 10**6, 1) if match else None


def _env(rundir: Path) -> dict[str, str]:
    # Faust's data directory and any other temporary files go to the run's folder.
    return os.environ | {"TMPDIR": str(rundir)}


def start_script(
    name: str,
    rundir: Path,
    python: Path | None,
    where: dict[str, str],
    params_file: Path,
    fetch_max_wait_ms: int | None = None,
) -> Started:
    """Variants (a) to (d): a standalone script; returns at once (the clock starts at its first output).
    `where` holds the script's --bootstrap, --input, --output and --group."""
    script, work = {
        "a": ("raw_aiokafka.py", "none"),
        "b": ("raw_aiokafka.py", "job"),
        "c": ("quix_job.py", "job"),
        "d": ("faust_naive.py", "job"),
    }[name]
    if python is None:
        raise VariantFailed("did not start: no Quix Streams virtualenv")
    log_path = rundir / f"{name}.log"
    command = [str(python), str(VARIANTS_DIR / script), "--params", str(params_file), "--work", work]
    command += [part for option, value in where.items() for part in (option, value)]
    if fetch_max_wait_ms is not None and name != "d":  # Faust's agent hard-codes its fetch wait
        command += ["--fetch-max-wait-ms", str(fetch_max_wait_ms)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=rundir, env=_env(rundir)
        )
    return Started(process, log_path, where["--input"])


def start_segmenter_worker(
    engine: str,
    rundir: Path,
    bootstrap: str,
    redis_url: str,
    source: str,
    sink: str,
    model_file: Path,
    extra_env: list[str],
) -> Started:
    """Variant (e): publish the model to Redis, then `segmenter worker` as users run it, with
    SEGMENTER_ENGINE set (`batch+exactly_once`: and SEGMENTER_PROCESSING_GUARANTEE); returns once the worker says
    it is ready."""
    tag = rundir.name
    env = {
        "SEGMENTER_KAFKA_BOOTSTRAP": bootstrap,
        "SEGMENTER_REDIS_URL": redis_url,
        "SEGMENTER_APP_ID": f"bench-{tag}",
        "SEGMENTER_REDIS_KEY_PREFIX": f"bench-{tag}",
        "SEGMENTER_PARTITIONS": "2",
        "SEGMENTER_LEADS_TOPIC": source,
        "SEGMENTER_SEGMENTS_TOPIC": sink,
    }
    for topic in ("dlq", "transitions", "models", "control", "outcomes", "registry"):
        if f"{topic}_topic" in Settings.model_fields:  # a run's own: a shared registry would carry its models over
            env[f"SEGMENTER_{topic.upper()}_TOPIC"] = f"bench-{topic}-{tag}"
    engine, _, guarantee = engine.partition("+")
    if guarantee:
        env["SEGMENTER_PROCESSING_GUARANTEE"] = guarantee
    if "engine" in Settings.model_fields:
        env["SEGMENTER_ENGINE"] = engine
    elif engine != "agent":  # the setting would be ignored, and the agent measured under this engine's name
        raise VariantFailed(f"did not start: this worker has no SEGMENTER_ENGINE setting, so no {engine} engine")
    env |= dict(item.split("=", 1) for item in extra_env)
    published = subprocess.run(
        [sys.executable, "-m", "segmenter", "publish", str(model_file)],
        env=_env(rundir) | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if published.returncode != 0:
        raise VariantFailed(f"did not start: publish failed: {_first(published.stderr)}")
    try:
        worker = start_worker(rundir, _env(rundir) | env, timeout=120)
    except ServiceUnavailableError:
        raise VariantFailed(f"did not start: {first_error(rundir / 'worker.log')}") from None
    return Started(worker.process, worker.log_path, source, env["SEGMENTER_REDIS_KEY_PREFIX"])


def sample_leads(redis_url: str, prefix: str) -> int:
    """Leads in a segmenter worker's shared refit sample (`{prefix}:sample`, under the prefix's hash tag): the
    sample was fed as in production."""
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.zcard(tagged_key(prefix, "sample")))
    finally:
        client.close()


def _first(text: str) -> str:
    lines = [_ANSI.sub("", line).strip() for line in text.splitlines() if line.strip()]
    return next((line for line in lines if _ERROR.search(line)), lines[-1] if lines else "no output")[:300]


def ensure_quix_venv(venv: Path, requirements: Path) -> Path:
    """The Python of Quix Streams' own virtualenv, created from the pinned requirements when missing or
    when they changed. The product's virtualenv is never touched: Quix Streams pins pydantic below ours."""
    python = venv / "bin" / "python"
    stamp = venv / ".requirements-sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python
    print(f"creating {venv} from {requirements.name} (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)], check=True)
    stamp.write_text(digest + "\n")
    return python
