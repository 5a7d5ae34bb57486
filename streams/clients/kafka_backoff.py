"""A pause between an aiokafka client's failed metadata refreshes. With its broker down, a client's metadata task
retries without pause: a refused connection asks for a refresh at once, which connects again and is refused at
once (aio-libs/aiokafka#1155 is the consumer's twin). Seen here as a whole core and thousands of log lines a
second for as long as the broker was away."""

import asyncio
from typing import Any

__all__ = ["back_off_metadata_retries"]

FIRST_PAUSE = 0.1
LONGEST_PAUSE = 5.0


def back_off_metadata_retries(client: Any, first: float = FIRST_PAUSE, longest: float = LONGEST_PAUSE) -> None:
    """Make `client` (an `aiokafka.AIOKafkaClient`) wait before a metadata refresh that follows a failed one:
    `first` seconds, doubling up to `longest`, back to none once a refresh succeeds."""
    update = client._metadata_update
    pause = 0.0

    async def backing_off(cluster: Any, topics: Any) -> Any:
        nonlocal pause
        if pause:
            await asyncio.sleep(pause)
        succeeded = await update(cluster, topics)
        pause = 0.0 if succeeded else min(max(pause * 2, first), longest)
        return succeeded

    client._metadata_update = backing_off
