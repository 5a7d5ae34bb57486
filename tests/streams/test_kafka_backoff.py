"""The pause before asking again to add offsets to a transaction (`retry_soon_while_markers_are_written`), on
aiokafka's own handler with a stand-in for its producer's sender: pure logic, no broker."""

from types import SimpleNamespace

from aiokafka.errors import ConcurrentTransactions, CoordinatorLoadInProgressError, NoError
from aiokafka.producer.sender import AddOffsetsToTxnHandler

from streams.clients.kafka_backoff import MARKERS_FIRST_PAUSE, retry_soon_while_markers_are_written


class _Sender:
    """What `AddOffsetsToTxnHandler` reads of its sender."""

    def __init__(self) -> None:
        self._retry_backoff = 0.1
        self.added: list[str] = []
        self._txn_manager = SimpleNamespace(consumer_group_added=self.added.append)


def _answer(owner: _Sender, error: type) -> float | None:
    response = SimpleNamespace(error_code=error.errno)
    return AddOffsetsToTxnHandler(owner, "group").handle_response(response)


def test_concurrent_transactions_is_asked_again_soon_then_less_often_up_to_the_producers_backoff() -> None:
    retry_soon_while_markers_are_written()
    retry_soon_while_markers_are_written()  # a second producer: not wrapped twice
    owner = _Sender()
    pauses = [_answer(owner, ConcurrentTransactions) for _ in range(7)]
    assert pauses == [0.005, 0.01, 0.02, 0.04, 0.08, 0.1, 0.1]
    assert _answer(owner, NoError) is None
    assert owner.added == ["group"]
    assert _answer(owner, ConcurrentTransactions) == MARKERS_FIRST_PAUSE  # from the start again after a success


def test_each_producer_has_its_own_pause_and_other_answers_keep_aiokafkas() -> None:
    retry_soon_while_markers_are_written()
    first, second = _Sender(), _Sender()
    assert _answer(first, ConcurrentTransactions) == 0.005
    assert _answer(first, ConcurrentTransactions) == 0.01
    assert _answer(second, ConcurrentTransactions) == 0.005
    assert _answer(first, CoordinatorLoadInProgressError) == 0.1
