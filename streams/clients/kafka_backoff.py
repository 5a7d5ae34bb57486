"""aiokafka's pauses before a retry, set to what a worker needs.

- Between failed metadata refreshes: with its broker down, a client's metadata task retries without pause (a
  refused connection asks for a refresh at once, which connects again and is refused at once;
  aio-libs/aiokafka#1155 is the consumer's twin). Seen here as a whole core and thousands of log lines a second
  for as long as the broker was away.
- Before asking again to add offsets to a transaction: the broker answers CONCURRENT_TRANSACTIONS while the
  previous transaction's commit markers are still being written, and aiokafka then waits its whole retry backoff
  (100 ms). Under exactly_once that is the first request of every transaction that follows another at once: 54 of
  860 transactions in a run at 1,000 leads/s (`bench/probes/transactions`). aiokafka already retries
  AddPartitionsToTxn after 20 ms in that case (KAFKA-5477)."""

import asyncio
import weakref
from typing import Any

from aiokafka.errors import ConcurrentTransactions, for_code
from aiokafka.producer import sender

__all__ = ["back_off_metadata_retries", "retry_soon_while_markers_are_written"]

FIRST_PAUSE = 0.1
LONGEST_PAUSE = 5.0
MARKERS_FIRST_PAUSE = 0.005


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


def retry_soon_while_markers_are_written(first: float = MARKERS_FIRST_PAUSE) -> None:
    """Make every transactional producer ask again to add offsets `first` seconds after CONCURRENT_TRANSACTIONS,
    doubling while the broker keeps answering so, up to the producer's own retry backoff. Other answers keep
    aiokafka's pauses. Idempotent."""
    handler = sender.AddOffsetsToTxnHandler
    if getattr(handler, "markers_pause_shortened", False):
        return
    handle = handler.handle_response
    pauses: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()  # per producer's sender: the last

    def handle_response(self: Any, response: Any) -> float | None:
        pause: float | None = handle(self, response)
        if pause is not None and for_code(response.error_code) is ConcurrentTransactions:
            pause = min(max(pauses.get(self._sender, 0.0) * 2, first), self._default_backoff)
            pauses[self._sender] = pause
        else:
            pauses.pop(self._sender, None)
        return pause

    handler.handle_response = handle_response
    handler.markers_pause_shortened = True
