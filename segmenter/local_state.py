"""What `local up` and `demo --keep-running` leave running: a small JSON file that `local down` and
`local status` read, one per user (`segmenter-local-UID` under the temp folder, readable by its owner only),
so that on a shared machine one user's `local down` never stops another's services."""

import json
import os
import tempfile
from pathlib import Path
from typing import TypedDict

from segmenter.exceptions import OptionError
from streams.local import LocalService

__all__ = ["STATE_FILE", "LocalState", "RunningService", "alive", "load_state", "running", "save_state"]

STATE_FILE = Path(tempfile.gettempdir()) / f"segmenter-local-{os.getuid()}" / "state.json"


class RunningService(TypedDict):
    pid: int
    url: str


class LocalState(TypedDict):
    workdir: str
    services: dict[str, RunningService]


def save_state(workdir: Path, services: list[LocalService]) -> None:
    """Remember what runs in the background so that `local down` can stop it."""
    folder = STATE_FILE.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid != os.getuid():
        raise OptionError(f"{folder} belongs to another user; remove it or set TMPDIR to a folder of your own")
    state: LocalState = {
        "workdir": str(workdir),
        "services": {s.name: {"pid": s.process.pid, "url": s.url} for s in services},
    }
    STATE_FILE.write_text(json.dumps(state, indent=1))


def load_state() -> LocalState | None:
    """The saved state, or None when nothing was left running."""
    if not STATE_FILE.is_file():
        return None
    try:
        state: LocalState = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError) as error:
        raise OptionError(f"{STATE_FILE}: not readable ({error}); stop the services by hand and remove it") from None
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
