"""Waiting in tests: for a condition, with a deadline, never a fixed sleep. A wait that runs out fails the test
and says what it waited for (`what`, or a function that describes the state at that moment)."""

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

__all__ = ["eventually", "wait_for"]

Described = str | Callable[[], str]


def wait_for(condition: Callable[[], object], timeout: float, what: Described, interval: float = 0.25) -> float:
    """Poll `condition` until it is true; returns the seconds it took. Fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{_text(what)}: not within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - started


async def eventually(
    condition: Callable[[], object | Awaitable[object]], what: Described, timeout: float = 10, interval: float = 0.01
) -> float:
    """`wait_for` inside an event loop: `condition` may be a coroutine function; the loop runs meanwhile."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await _value(condition()):
        if loop.time() - started > timeout:
            raise AssertionError(f"{_text(what)}: not within {timeout}s")
        await asyncio.sleep(interval)
    return loop.time() - started


async def _value(result: object) -> object:
    return await result if inspect.isawaitable(result) else result


def _text(what: Described) -> str:
    return what if isinstance(what, str) else what()
