"""Counts, in a worker under exactly_once, how the broker answered each kind of transaction request of aiokafka's
producers: done, or retried (after which pause, for which error). Writes the tallies every 5 s to
`$SEGMENTER_TXN_PROBE_DIR/txn-PID.log` (default /tmp). Load it into the worker the benchmark starts with
`bench/throughput.py --worker-env PYTHONPATH=bench/probes/transactions`: Python imports `sitecustomize` at start."""

import collections
import os
import threading
import time

from aiokafka.errors import for_code
from aiokafka.producer import sender

_tallies: collections.Counter[str] = collections.Counter()
_path = os.path.join(os.environ.get("SEGMENTER_TXN_PROBE_DIR", "/tmp"), f"txn-{os.getpid()}.log")


def _counted(handler: type) -> None:
    handle = handler.handle_response

    def handle_response(self, response):  # type: ignore[no-untyped-def]
        backoff = handle(self, response)
        errors = ", ".join(sorted({for_code(code).__name__ for code in _error_codes(response) if code}))
        outcome = f"retried after {backoff * 1000:.0f} ms ({errors})" if backoff else "answered"
        _tallies[f"{handler.__name__}: {outcome}"] += 1
        return backoff

    handler.handle_response = handle_response


def _error_codes(response):  # type: ignore[no-untyped-def]
    if hasattr(response, "error_code"):
        yield response.error_code
    for _, partitions in getattr(response, "errors", ()):
        for _, code in partitions:
            yield code


def _write() -> None:
    while True:
        time.sleep(5)
        with open(_path, "w") as log:
            log.writelines(f"{count:8d} {name}\n" for name, count in sorted(_tallies.items()))


try:  # the worker's own change to these pauses first, so that the tally shows the pauses really taken
    from streams.clients.kafka_backoff import retry_soon_while_markers_are_written
except ImportError:  # a commit from before it
    pass
else:
    retry_soon_while_markers_are_written()
for _name in ("AddOffsetsToTxnHandler", "AddPartitionsToTxnHandler", "EndTxnHandler", "TxnOffsetCommitHandler"):
    _counted(getattr(sender, _name))
threading.Thread(target=_write, daemon=True).start()
