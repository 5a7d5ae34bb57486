"""The hot path, one step per module in the order a batch flows: decode → assign → outputs and dead letters →
deliver → remember the previous segments (`router.py` reads in that order), and the `batch` engine that feeds it
from an aiokafka consumer. It reads the served model from `streams.model_plane` and tells what it delivered to
listeners (the refit sample, drift, the operations surface) through callbacks. Imports `streams.clients`,
`streams.model_plane` (the served model only), `models`, `segmentation` and the shared `streams.exceptions` and
`streams.metrics`; never `streams.operations`."""

from streams.routing.assign import Routed
from streams.routing.batch_engine import BatchEngine
from streams.routing.dead_letters import DeadLetters, Rejected
from streams.routing.decode import Lead, validated
from streams.routing.delivery import deliver
from streams.routing.exactly_once import ExactlyOnceEngine
from streams.routing.previous import InMemoryPreviousSegments, PreviousSegments, RedisPreviousSegments
from streams.routing.replay_safe import ReplaySafeSegments
from streams.routing.router import BatchRouter, Exposures, RoutedBatch

__all__ = [
    "BatchEngine",
    "BatchRouter",
    "DeadLetters",
    "ExactlyOnceEngine",
    "Exposures",
    "InMemoryPreviousSegments",
    "Lead",
    "PreviousSegments",
    "RedisPreviousSegments",
    "Rejected",
    "ReplaySafeSegments",
    "Routed",
    "RoutedBatch",
    "deliver",
    "validated",
]
