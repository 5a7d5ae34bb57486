"""`segmenter demo` and `segmenter local` as a new user runs them: real processes, nothing left behind."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def our_processes(tmp: Path) -> set[int]:
    """Pids of live processes working in `tmp`: the demo's children run there (the broker and Redis
    in its work directory, the worker where the demo was started). Zombies, exited children not yet
    reaped by init, do not count."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and cwd.startswith(str(tmp)) and int(entry.name) != os.getpid():
                found.add(int(entry.name))
    return found


def segmenter(*args: str, tmp: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTER_")} | {"TMPDIR": str(tmp)}
    return subprocess.run(
        [sys.executable, "-m", "segmenter", *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=tmp
    )


def test_demo_streams_leads_through_the_worker_and_cleans_up(tmp_path: Path) -> None:
    done = segmenter("demo", "--n", "1500", "--quiet", tmp=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Leads routed by the worker" in done.stdout
    assert "assigned" in done.stderr and "1,500" in done.stderr
    assert done.stdout.count("not_json") == 1 and done.stdout.count("not_utf8") == 1
    assert "Tire Kickers" in done.stdout and "one campaign for all" in done.stdout
    assert (tmp_path / "demo-output" / "report" / "index.html").is_file()
    assert our_processes(tmp_path) == set()
    assert not list(tmp_path.glob("segmenter-demo-*"))


def test_ctrl_c_mid_demo_stops_every_child(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTER_")} | {"TMPDIR": str(tmp_path)}
    demo = subprocess.Popen(
        [sys.executable, "-m", "segmenter", "demo", "--n", "20000"],  # long enough to be interrupted
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background shell ignores it
    )  # fmt: skip
    wait_for(lambda: our_processes(tmp_path) - {demo.pid}, 120, "the demo's services started", 0.2)
    time.sleep(1)  # mid-way: services up, fitting or starting the worker
    demo.send_signal(signal.SIGINT)
    demo.wait(60)
    assert demo.returncode != 0
    assert our_processes(tmp_path) == set()
    assert not list(tmp_path.glob("segmenter-demo-*"))


def test_keep_running_then_local_down(tmp_path: Path) -> None:
    done = segmenter("demo", "--n", "500", "--quiet", "--keep-running", tmp=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "export SEGMENTER_KAFKA_BOOTSTRAP=127.0.0.1:" in done.stdout
    try:
        assert len(our_processes(tmp_path)) == 3  # broker, Redis, worker
        dashboard = re.search(r"dashboard: (http://\S+/) ", done.stdout)
        assert dashboard is not None, done.stdout
        with urllib.request.urlopen(dashboard.group(1) + "healthz", timeout=10) as health:
            assert health.status == 200
        status = segmenter("local", "status", tmp=tmp_path)
        assert status.returncode == 0 and status.stdout.count("running") == 3
        again = segmenter("demo", "--n", "500", "--keep-running", tmp=tmp_path)
        assert again.returncode == 2 and "local down" in again.stderr
    finally:
        down = segmenter("local", "down", tmp=tmp_path)
    assert down.returncode == 0 and down.stdout.count("stopped") == 3
    assert our_processes(tmp_path) == set()
    assert segmenter("local", "status", tmp=tmp_path).returncode == 3


def test_local_up_prints_settings_that_work(tmp_path: Path) -> None:
    up = segmenter("local", "up", tmp=tmp_path)
    assert up.returncode == 0, up.stderr
    try:
        exports = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
        assert set(exports) == {"SEGMENTER_KAFKA_BOOTSTRAP", "SEGMENTER_REDIS_URL"}
        assert segmenter("local", "up", tmp=tmp_path).returncode == 2
    finally:
        assert segmenter("local", "down", tmp=tmp_path).returncode == 0
    assert our_processes(tmp_path) == set()
