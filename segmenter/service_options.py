"""What every command that talks to Kafka or Redis shares: the `--bootstrap` and `--redis` options, the
settings built with them, and a refused connection said in one line with what to do about it.

A command declares `bootstrap: Bootstrap = None, redis: RedisUrl = None`, builds its settings with
`service_settings(bootstrap, redis)` and lets `user_errors` (segmenter/app.py) print the errors, which
already carry the hint when they come from `service_errors`.
"""

import logging
import re
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated

import typer

from models.exceptions import ConfigError
from models.settings import Settings
from segmenter.app import load_settings
from segmenter.local_state import load_state
from streams.exceptions import ServiceUnavailableError

__all__ = ["SERVICES_HELP", "Bootstrap", "RedisUrl", "service_errors", "service_hint", "service_settings"]

SERVICES_HELP = (
    "Kafka and Redis are found from --bootstrap and --redis, else SEGMENTER_KAFKA_BOOTSTRAP and "
    "SEGMENTER_REDIS_URL (defaults localhost:9092 and redis://localhost:6379/0); every other setting "
    "from its SEGMENTER_* variable (see docs/configuration.md). `segmenter local up` starts both "
    "on this machine."
)

Bootstrap = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        metavar="HOST:PORT",
        help="Kafka bootstrap servers, host:port[,host:port] (default: $SEGMENTER_KAFKA_BOOTSTRAP or localhost:9092).",
        show_default=False,
    ),
]
RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis",
        metavar="URL",
        help="Redis URL, redis://[:password@]host:port/db (default: $SEGMENTER_REDIS_URL or redis://localhost:6379/0).",
        show_default=False,
    ),
]

# The client libraries log a refused connection themselves, then raise; the command says it once.
_CLIENT_LOGGERS = ("aiokafka", "kafka", "redis")
# A service that answered but refused the credentials or the certificate: not a service to start.
_REFUSED_US = re.compile(r"authenticat|credential|certificate|password|NOAUTH|WRONGPASS|NOPERM|SSL", re.I)
_UNREACHABLE = re.compile(r"refused|bootstrap|connect|timed? ?out|no answer|unreachable|name or service", re.I)


def service_settings(bootstrap: str | None = None, redis: str | None = None) -> Settings:
    """The settings from `SEGMENTER_*`, with `--bootstrap` and `--redis` on top when given; a bad value is
    one `ConfigError` line naming the variable."""
    try:
        return load_settings(kafka_bootstrap=bootstrap, redis_url=redis)
    except ConfigError as error:
        given = {"SEGMENTER_KAFKA_BOOTSTRAP": bootstrap, "SEGMENTER_REDIS_URL": redis}
        option = {"SEGMENTER_KAFKA_BOOTSTRAP": "--bootstrap", "SEGMENTER_REDIS_URL": "--redis"}
        variable = str(error).split(":", 1)[0]
        if given.get(variable) is not None:
            raise ConfigError(f"{option[variable]}{str(error).removeprefix(variable)}") from None
        raise


def service_hint(error: ServiceUnavailableError, settings: Settings, client_lines: Sequence[str] = ()) -> str:
    """`error` as one line: when a service refused us (credentials, certificate), its reason, also when only the
    client library's own log lines (`client_lines`) gave it; when it did not answer, which one, where it was
    looked for, and what to do."""
    text = " ".join(str(error).split())
    if _REFUSED_US.search(text) or not _UNREACHABLE.search(text):  # it answered and refused: its reason says why
        return text
    if refusal := next((line for line in client_lines if _REFUSED_US.search(line)), None):
        return f"{text}: {' '.join(refusal.split())}"
    redis = _is_redis(error)
    if redis:
        where, option, variable = f"Redis at {settings.redis_url_redacted}", "--redis URL", "SEGMENTER_REDIS_URL"
    else:
        where, option = f"Kafka at {settings.kafka_bootstrap}", "--bootstrap HOST:PORT"
        variable = "SEGMENTER_KAFKA_BOOTSTRAP"
    refused = any(word in text.lower() for word in ("refused", "bootstrap", "error 111", "connect call failed"))
    reason = "connection refused" if refused else "no answer"
    state = load_state()
    service = state["services"].get("redis" if redis else "kafka") if state is not None else None
    if service is not None:
        todo = f"`segmenter local up` runs one at {service['url']}: pass {option.split()[0]} {service['url']}"
    else:
        todo = f"start both with `segmenter local up` and export what it prints, or pass {option} ({variable})"
    done = text.split(";")[0] if text.startswith("model ") else ""  # what already happened before the failure
    return (f"{done}; " if done else "") + f"cannot reach {where} ({reason}): {todo}"


class _Held(logging.Handler):
    """Keeps the last few lines a client library logged, instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: deque[str] = deque(maxlen=50)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def service_errors(settings: Settings) -> Iterator[None]:
    """Within the block the client libraries print nothing of their own (their lines are held), and a
    `ServiceUnavailableError` comes out with `service_hint`'s one line as its message. For one-off commands and
    a worker's start, not for a running worker, whose own logging shows those libraries' warnings."""
    held = _Held()
    loggers = [logging.getLogger(name) for name in _CLIENT_LOGGERS]
    saved = [(logger.handlers, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers, logger.propagate = [held], False
    try:
        yield
    except ServiceUnavailableError as error:
        raise ServiceUnavailableError(service_hint(error, settings, held.lines)) from error
    finally:
        for logger, (handlers, propagate) in zip(loggers, saved, strict=True):
            logger.handlers, logger.propagate = handlers, propagate


def _is_redis(error: BaseException) -> bool:
    """Whether Redis, not Kafka, failed: by the library that raised, else by what the message names first."""
    cause: BaseException | None = error
    while cause is not None:
        module = type(cause).__module__.split(".")[0]
        if module in ("redis", "aiokafka", "kafka"):
            return module == "redis"
        cause = cause.__cause__
    text = str(error)
    return text.startswith("Redis") or ("Redis" in text and "Kafka" not in text)
