"""Errors of the streaming edge: services, topics and the model store."""

from segmentation.exceptions import SegmenterError

__all__ = [
    "PartitionLostError",
    "PinnedError",
    "ServiceUnavailableError",
    "StaleModelError",
    "TopicMismatchError",
    "WorkerStoppingError",
]


class StaleModelError(SegmenterError):
    """A published model version is not newer than the current one."""


class PinnedError(SegmenterError):
    """A model cannot be promoted: an operator pinned the current version."""


class ServiceUnavailableError(SegmenterError):
    """Kafka or Redis cannot be reached."""


class TopicMismatchError(SegmenterError):
    """An existing topic has a different partition count than configured."""


class WorkerStoppingError(SegmenterError):
    """The worker stops while a batch is unfinished; the batch stays unacknowledged."""


class PartitionLostError(SegmenterError):
    """Another worker took an input partition over (exactly_once): this worker can commit nothing more for it."""
