"""The worker's logging: our own lines at `SEGMENTER_LOG_LEVEL`, the frameworks' (faust, mode, aiokafka) at
WARNING unless that level is DEBUG, text or one JSON object per line (`SEGMENTER_LOG_FORMAT`), and a repeated
third-party warning or error said once a minute with a count of what was held back, not thousands of times a
second (aiokafka's producer logs every failed connection attempt while a broker is down)."""

import json
import logging
import re
import time
from typing import Any

from models.settings import Settings

__all__ = ["JsonFormatter", "QuietFrameworks", "logging_config", "start_line", "stop_message"]

TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
_FRAMEWORKS = ("faust", "mode", "aiokafka", "kafka", "aiohttp", "asyncio", "redis")
_OWN = ("streams", "segmenter", "models", "segmentation")
# Lines of the frameworks that are notable events, kept at INFO: the worker is ready.
_KEEP = ("[^Worker]: Ready",)
_SERVICE_STEP = re.compile(r"\[\^[-\w]+\]: (Starting|Stopping)\.\.\.")


class QuietFrameworks(logging.Filter):
    """Drops the frameworks' records below WARNING (bar `_KEEP`) unless `debug`; lets each distinct
    third-party warning or error through at most once per `every` seconds, noting how many were held back."""

    def __init__(self, debug: bool = False, every: float = 60.0) -> None:
        super().__init__()
        self._debug = debug
        self._every = every
        self._seen: dict[tuple[str, object], list[float]] = {}  # (logger, template) -> [last said, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._debug:
            return True
        if record.name.startswith(_OWN):
            # mode says each of our services' start and stop: chatter, not events.
            return not (record.levelno == logging.INFO and _SERVICE_STEP.fullmatch(record.getMessage()))
        if record.levelno < logging.WARNING:
            return record.levelno >= logging.INFO and any(keep in record.getMessage() for keep in _KEEP)
        key = (record.name, record.msg)
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self._every:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} (and {int(seen[1])} more like it in the last {now - seen[0]:.0f}s)"
        self._seen[key] = [now, 0]
        if len(self._seen) > 1000:  # templates are few; guard against ones that embed values
            self._seen.clear()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


JsonFormatter.converter = time.gmtime


def start_line(settings: Settings, message: str, level: int = logging.INFO) -> str:
    """A line the worker says before its logging is set up (what it connects to, a failure at start): with
    `SEGMENTER_LOG_FORMAT=json` one JSON object like every later line, else the message as it is.

    Examples:
        >>> start_line(Settings(), "worker lead-segmenter: Kafka localhost:9092")
        'worker lead-segmenter: Kafka localhost:9092'
        >>> line = json.loads(start_line(Settings(log_format="json"), "no broker", logging.ERROR))
        >>> line["level"], line["logger"], line["message"]
        ('ERROR', 'segmenter.worker', 'no broker')
    """
    if settings.log_format != "json":
        return message
    record = logging.LogRecord("segmenter.worker", level, __file__, 0, message, None, None)
    return JsonFormatter().format(record)


def stop_message(signal_name: str | None, error: BaseException | None, uncommitted: int) -> tuple[int, str]:
    """The level and line the worker logs as it stops: why (a signal, an error, or neither: its app stopped) and
    what it left uncommitted (leads read whose offsets are not committed: their next owner routes them again).

    Examples:
        >>> stop_message("SIGTERM", None, 0)
        (20, 'worker stopped on signal SIGTERM; every lead it read is committed')
        >>> print(stop_message(None, RuntimeError("boom"), 12)[1])
        worker stopped by an error (RuntimeError('boom')); 12 leads read and not committed: the next owner of
        their partitions routes them again
    """
    what = (
        "every lead it read is committed"
        if not uncommitted
        else f"{uncommitted} leads read and not committed: the next owner of their partitions routes them again"
    )
    if error is not None:
        return logging.ERROR, f"worker stopped by an error ({error!r}); {what}"
    return logging.INFO, f"worker stopped on {f'signal {signal_name}' if signal_name else 'its app stopping'}; {what}"


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the worker (mode's Worker applies it in place of its own)."""
    debug = settings.log_level == "DEBUG"
    formatter: dict[str, Any] = {"()": JsonFormatter} if settings.log_format == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"quiet": {"()": QuietFrameworks, "debug": debug}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["quiet"],
            }
        },
        "root": {"level": "DEBUG" if debug else "INFO", "handlers": ["default"]},
        "loggers": {name: {"level": settings.log_level} for name in _OWN},
    }
