"""Whether a local server is ready: it answers its own protocol (Kafka's ApiVersions, Redis's PING) on a
connection, not just accepts it. Each check raises ConnectionError on anything else (streams/local.py retries)."""

import struct
from collections.abc import Callable
from io import BufferedIOBase

__all__ = ["kafka_answers", "redis_answers"]


def kafka_answers(stream: BufferedIOBase) -> None:
    """ApiVersions v0, which every Kafka broker answers; raises ConnectionError on anything else."""
    client_id = b"segmenter-local"
    request = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    stream.write(struct.pack(">i", len(request)) + request)
    stream.flush()
    (size,) = struct.unpack(">i", _read_exact(stream, 4))
    correlation_id, error_code = struct.unpack(">ih", _read_exact(stream, size)[:6])
    if (correlation_id, error_code) != (7, 0):
        raise ConnectionError(f"ApiVersions answered correlation {correlation_id}, error {error_code}")


def redis_answers(password: str | None) -> Callable[[BufferedIOBase], None]:
    """PING (after AUTH with `password`, if given), answered PONG."""

    def answers(stream: BufferedIOBase) -> None:
        if password:
            _command(stream, b"AUTH", password.encode(), expect=b"+OK")
        _command(stream, b"PING", expect=b"+PONG")

    return answers


def _command(stream: BufferedIOBase, *parts: bytes, expect: bytes) -> None:
    stream.write(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts))
    stream.flush()
    reply = stream.readline().rstrip()
    if reply != expect:
        raise ConnectionError(f"{parts[0].decode()} answered {reply.decode(errors='replace')!r}")


def _read_exact(stream: BufferedIOBase, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ConnectionError("connection closed mid-answer")
    return data
