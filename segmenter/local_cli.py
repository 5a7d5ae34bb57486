"""`segmenter local up|down|status`: the embedded Kafka and Redis as background processes."""

import json
import shutil
import tempfile
from pathlib import Path
from typing import TypedDict

import typer

from segmenter.app import app, user_errors
from segmenter.console import out
from segmenter.exceptions import OptionError
from streams.local import LocalService, start_kafka, start_redis, stop_pid

__all__ = ["STATE_FILE", "save_state"]

STATE_FILE = Path(tempfile.gettempdir()) / "segmenter-local" / "state.json"

local = typer.Typer(help="Embedded Kafka (Tansu) and Redis (Valkey) on loopback, for trying the worker.")
app.add_typer(local, name="local")


def save_state(workdir: Path, services: list[LocalService]) -> None:
    """Remember what runs in the background so that `local down` can stop it."""
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    state: _State = {
        "workdir": str(workdir),
        "services": {s.name: {"pid": s.process.pid, "url": s.url} for s in services},
    }
    STATE_FILE.write_text(json.dumps(state, indent=1))


class _Running(TypedDict):
    pid: int
    url: str


class _State(TypedDict):
    workdir: str
    services: dict[str, _Running]


def _state() -> _State | None:
    if not STATE_FILE.is_file():
        return None
    state: _State = json.loads(STATE_FILE.read_text())
    return state


def _alive(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}").stat()
    except FileNotFoundError:
        return False
    return True


def running() -> bool:
    state = _state()
    return state is not None and any(_alive(s["pid"]) for s in state["services"].values())


@local.command()
@user_errors
def up() -> None:
    """Start Kafka and Redis in the background and print the settings that point at them."""
    if running():
        raise OptionError(f"already running (state in {STATE_FILE}); `segmenter local down` first")
    workdir = Path(tempfile.mkdtemp(prefix="segmenter-local-"))
    kafka = start_kafka(workdir)
    try:
        redis = start_redis(workdir)
    except BaseException:
        kafka.stop()
        raise
    save_state(workdir, [kafka, redis])
    out.print(f"export SEGMENTER_KAFKA_BOOTSTRAP={kafka.url}\nexport SEGMENTER_REDIS_URL={redis.url}", highlight=False)


@local.command()
@user_errors
def down() -> None:
    """Stop what `local up` or `demo --keep-running` left running, and remove its files."""
    state = _state()
    if state is None:
        out.print("nothing is running")
        return
    for name, service in state["services"].items():
        stopped = stop_pid(service["pid"])
        out.print(f"{name}: {'stopped' if stopped else 'was not running'}")
    shutil.rmtree(state["workdir"], ignore_errors=True)
    STATE_FILE.unlink()


@local.command()
@user_errors
def status() -> None:
    """Which of the background services run, and where."""
    state = _state()
    if state is None:
        out.print("nothing is running")
        raise typer.Exit(3)
    for name, service in state["services"].items():
        out.print(
            f"{name}: {'running' if _alive(service['pid']) else 'stopped'} (pid {service['pid']}) {service['url']}"
        )
    if not running():
        raise typer.Exit(3)
