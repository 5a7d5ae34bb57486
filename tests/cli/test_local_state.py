"""The state file `local up` and `demo --keep-running` leave behind, as `local down` and `status` read it."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from segmenter import local_state
from streams.local.services import LocalService, terminate


@pytest.fixture
def state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "state.json"
    monkeypatch.setattr(local_state, "STATE_FILE", path)
    return path


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[LocalService]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield LocalService("redis", 6399, process, tmp_path / "redis.log")
    terminate(process)


def test_saved_services_are_read_back_and_seen_running(state_file: Path, sleeper: LocalService) -> None:
    assert local_state.load_state() is None and not local_state.running()
    local_state.save_state(Path("/tmp/work"), [sleeper])
    assert state_file.is_file()
    assert local_state.load_state() == {
        "workdir": "/tmp/work",
        "services": {"redis": {"pid": sleeper.process.pid, "url": "redis://127.0.0.1:6399/0"}},
    }
    assert local_state.running()
    sleeper.stop()
    assert not local_state.alive(sleeper.process.pid)
    assert not local_state.running()
