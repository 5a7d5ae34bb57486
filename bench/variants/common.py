"""Command-line arguments every standalone variant takes, and a stop flag set by SIGTERM or SIGINT."""

import argparse
import signal
import threading
from pathlib import Path

__all__ = ["arguments", "stop_on_signals"]


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, host:port[,host:port]")
    parser.add_argument("--input", required=True, help="topic to consume")
    parser.add_argument("--output", required=True, help="topic to produce the results to")
    parser.add_argument("--group", required=True, help="consumer group")
    parser.add_argument("--params", type=Path, required=True, help="model parameters written by bench/throughput.py")
    parser.add_argument("--work", choices=["none", "job"], default="job", help="none: pass the input through")
    parser.add_argument("--session-timeout-ms", type=int, default=10_000, help="consumer group session timeout")
    parser.add_argument("--fetch-max-wait-ms", type=int, help="longest wait of a fetch (default: the client's)")
    return parser.parse_args()


def stop_on_signals() -> threading.Event:
    """An event set by the first SIGTERM or SIGINT (from the main thread)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
