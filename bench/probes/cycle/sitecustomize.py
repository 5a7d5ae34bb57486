"""Times the steps of the batch engine's cycle in a running worker: the wait in `getmany`, then for each batch
the previous segments' lookup, the delivery (outputs acknowledged), the remembering (previous segments and
exposures), under exactly_once the transaction's commit, and the whole route, with each batch's size. Writes
percentiles every 5 s to `$SEGMENTER_CYCLE_PROBE_DIR/cycle-PID.log` (default /tmp). Load it into the worker the
benchmark starts with `bench/throughput.py --worker-env PYTHONPATH=bench/probes/cycle`: Python imports
`sitecustomize` at start."""

import collections
import functools
import os
import threading
import time
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer

from streams.clients import transactions
from streams.outcomes.exposures import ExposureRecorder
from streams.routing import previous, replay_safe, router

_ms: collections.defaultdict[str, list[float]] = collections.defaultdict(list)
_path = os.path.join(os.environ.get("SEGMENTER_CYCLE_PROBE_DIR", "/tmp"), f"cycle-{os.getpid()}.log")


def _timed(step: str, function: Any) -> Any:
    @functools.wraps(function)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            _ms[step].append((time.perf_counter() - started) * 1000)

    return timed


def _sized(function: Any) -> Any:
    @functools.wraps(function)
    async def route(self: Any, raws: Any, *args: Any, **kwargs: Any) -> Any:
        _ms["batch size (leads)"].append(len(raws))
        return await function(self, raws, *args, **kwargs)

    return route


def _write() -> None:
    while True:
        time.sleep(5)
        lines = []
        for step, values in sorted(_ms.items()):
            if values:
                p50, p90, p99, top = np.percentile(values[-20_000:], [50, 90, 99, 100])
                figures = f"p50={p50:7.2f} p90={p90:7.2f} p99={p99:7.2f} max={top:7.2f}"
                lines.append(f"{step:20s} n={len(values):7d} {figures}\n")
        with open(_path, "w") as log:
            log.writelines(lines)


AIOKafkaConsumer.getmany = _timed("getmany wait", AIOKafkaConsumer.getmany)
previous.RedisPreviousSegments.get_many = _timed("previous lookup", previous.RedisPreviousSegments.get_many)
previous.RedisPreviousSegments.set_many = _timed("previous write", previous.RedisPreviousSegments.set_many)
replay_safe.ReplaySafeSegments.recall = _timed("previous lookup (eos)", replay_safe.ReplaySafeSegments.recall)
replay_safe.ReplaySafeSegments.remember = _timed("previous write (eos)", replay_safe.ReplaySafeSegments.remember)
transactions.PartitionTransaction.commit = _timed("commit (eos)", transactions.PartitionTransaction.commit)
ExposureRecorder.record = _timed("exposures write", ExposureRecorder.record)
router.deliver = _timed("deliver (acked)", router.deliver)
router.BatchRouter.route = _sized(_timed("route (whole)", router.BatchRouter.route))
threading.Thread(target=_write, daemon=True).start()
