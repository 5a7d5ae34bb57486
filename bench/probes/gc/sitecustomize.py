"""Logs every garbage collection of a process that takes over 2 ms, and every gen-2 one, to
`$SEGMENTER_GC_PROBE_DIR/gc-PID.log` (default /tmp). Load it into the worker the benchmark starts with
`bench/throughput.py --worker-env PYTHONPATH=bench/probes/gc`: Python imports `sitecustomize` at start."""

import gc
import os
import time

_started: list[float] = []
_log = open(  # noqa: SIM115 - open for the process's whole life
    os.path.join(os.environ.get("SEGMENTER_GC_PROBE_DIR", "/tmp"), f"gc-{os.getpid()}.log"), "a", buffering=1
)


def _timed(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _started[:] = [time.perf_counter()]
        return
    ms = (time.perf_counter() - _started[0]) * 1000 if _started else 0.0
    if ms > 2 or info["generation"] == 2:
        _log.write(f"{time.time():.3f} gen{info['generation']} {ms:.1f} ms collected={info['collected']}\n")


gc.callbacks.append(_timed)
