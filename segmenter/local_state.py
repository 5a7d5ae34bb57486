"""What `local up` and `demo --keep-running` leave running: a small JSON file that `local down` and
`local status` read."""

import json
import tempfile
from pathlib import Path
from typing import TypedDict

from streams.local import LocalService

__all__ = ["STATE_FILE", "LocalState", "RunningService", "alive", "load_state", "running", "save_state"]

STATE_FILE = Path(tempfile.gettempdir()) / "segmenter-local" / "state.json"


class RunningService(TypedDict):
    pid: int
    url: str


class LocalState(TypedDict):
    workdir: str
    services: dict[str, RunningService]


def save_state(workdir: Path, services: list[LocalService]) -> None:
    """Remember what runs in the background so that `local down` can stop it."""
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    state: LocalState = {
        "workdir": str(workdir),
        "services": {s.name: {"pid": s.process.pid, "url": s.url} for s in services},
    }
    STATE_FILE.write_text(json.dumps(state, indent=1))


def load_state() -> LocalState | None:
    """The saved state, or None when nothing was left running."""
    if not STATE_FILE.is_file():
        return None
    state: LocalState = json.loads(STATE_FILE.read_text())
    return state


def alive(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}").stat()
    except FileNotFoundError:
        return False
    return True


def running() -> bool:
    """Whether any saved service still runs."""
    state = load_state()
    return state is not None and any(alive(s["pid"]) for s in state["services"].values())
