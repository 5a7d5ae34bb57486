"""`segmenter local up|down|status`: the embedded Kafka and Redis as background processes."""

import contextlib
import shutil
import tempfile
from pathlib import Path

import typer

from segmenter.app import app, user_errors
from segmenter.console import err, out
from segmenter.exceptions import OptionError
from segmenter.local_state import STATE_FILE, alive, load_state, running, save_state
from streams.local import start_services, stop_pid

__all__ = ["down", "status", "up"]

local = typer.Typer(
    help="Embedded Kafka (Tansu) and Redis (Valkey) on loopback, for trying the worker.", rich_markup_mode=None
)
app.add_typer(local, name="local")


@local.command()
@user_errors
def up() -> None:
    """Start Kafka and Redis in the background and print the settings that point at them."""
    if running():
        raise OptionError(f"already running (state in {STATE_FILE}); `segmenter local down` first")
    workdir = Path(tempfile.mkdtemp(prefix="segmenter-local-"))
    kafka, redis = start_services(workdir)
    save_state(workdir, [kafka, redis])
    out.print(f"export SEGMENTER_KAFKA_BOOTSTRAP={kafka.url}\nexport SEGMENTER_REDIS_URL={redis.url}", highlight=False)
    err.print(
        f"(or pass --bootstrap {kafka.url} --redis {redis.url}; stop them with `segmenter local down`)", highlight=False
    )


@local.command()
@user_errors
def down() -> None:
    """Stop what `local up` or `demo --keep-running` left running, and remove its files."""
    state = load_state()
    if state is None:
        out.print("nothing is running")
        return
    for name, service in state["services"].items():
        stopped = stop_pid(service["pid"])
        out.print(f"{name}: {'stopped' if stopped else 'was not running'}")
    shutil.rmtree(state["workdir"], ignore_errors=True)
    STATE_FILE.unlink()
    with contextlib.suppress(OSError):  # the user's state folder, unless something else is in it
        STATE_FILE.parent.rmdir()


@local.command()
@user_errors
def status() -> None:
    """Which of the background services run, and where."""
    state = load_state()
    if state is None:
        out.print("nothing is running")
        raise typer.Exit(3)
    for name, service in state["services"].items():
        out.print(
            f"{name}: {'running' if alive(service['pid']) else 'stopped'} (pid {service['pid']}) {service['url']}"
        )
    if not running():
        raise typer.Exit(3)
