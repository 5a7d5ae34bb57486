"""An Apache Kafka broker and a redis-server of a test's own, to stop and start again without touching the
shared CI services. Both keep their data dir and ports across `stop()` and `start()`."""

import secrets
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from tests.waiting import wait_for

__all__ = ["KafkaNode", "RedisNode", "running"]

SERVICES = Path(__file__).parents[2] / ".ci" / "services.sh"
REDIS_USER = "segmenter"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Server:
    """A child process with a log; `stop()` is SIGTERM, then SIGKILL after `grace` seconds."""

    def __init__(self, root: Path, name: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.log_path = root / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log_starts_at = 0

    def _launch(self, command: list[str]) -> None:
        self._log_starts_at = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )

    def _wait(self, ready: str, timeout: float) -> None:
        assert self.process is not None
        process = self.process
        wait_for(lambda: self._ready(ready) or process.poll() is not None, timeout, self._not_ready, 0.1)
        assert process.poll() is None, self._not_ready()

    def _not_ready(self) -> str:
        return f"{self.log_path.name} ready:\n{self.log()[-3000:]}"

    def _ready(self, ready: str) -> bool:
        return ready in self.log()[self._log_starts_at :]

    def log(self) -> str:
        return self.log_path.read_bytes().decode(errors="replace") if self.log_path.exists() else ""

    @contextmanager
    def hung(self) -> Iterator[None]:
        """SIGSTOP for the block, SIGCONT after it, also when the block fails: the process keeps its sockets
        open but answers nothing, as a server does in a failover, a full network buffer or a paused VM."""
        assert self.process is not None and self.process.poll() is None
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    def stop(self, grace: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)  # a stopped process would not act on SIGTERM
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class KafkaNode(_Server):
    """A single-node KRaft broker run by `.ci/services.sh kafka-node` (the CI broker's jars and settings)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "kafka")
        self.port, self.controller_port = _free_port(), _free_port()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> "KafkaNode":
        node = ["bash", str(SERVICES), "kafka-node", str(self.root), str(self.port), str(self.controller_port)]
        self._launch(node)
        self._wait("Kafka Server started", timeout)
        return self


class RedisNode(_Server):
    """redis-server with an ACL user and a password (the default user off), saving its data on shutdown."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "redis")
        self.port = _free_port()
        self.password = secrets.token_hex(16)
        (root / "data").mkdir(exist_ok=True)
        config = root / "redis.conf"
        config.write_text(
            f"bind 127.0.0.1\nport {self.port}\nprotected-mode yes\ndaemonize no\nsave 3600 1\nappendonly no\n"
            f'dir {root / "data"}\nlogfile ""\nuser default off\n'
            f"user {REDIS_USER} on >{self.password} ~* &* +@all\n"
        )
        config.chmod(0o600)
        self._config = config

    @property
    def url(self) -> str:
        return f"redis://{REDIS_USER}:{self.password}@127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30) -> "RedisNode":
        self._launch(["redis-server", str(self._config)])
        self._wait("Ready to accept connections", timeout)
        return self


Node = TypeVar("Node", KafkaNode, RedisNode)


def running(node: Node) -> Iterator[Node]:
    """The node, started, for a fixture to yield; stopped afterwards, also when it failed to start."""
    try:
        yield node.start()
    finally:
        node.stop()
