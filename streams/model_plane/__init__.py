"""The model plane: the store of model versions in Redis and its copy in the registry topic (Redis refilled from
it), the one model a worker serves (and the one place it is swapped), publishing and model events, operator
commands, the background refit on the shared sample of leads, and drift of the served model. The hot path reads
only the served model from here; it feeds the sample and the drift window through callbacks. Imports
`streams.clients`, `models`, `segmentation` and the shared `streams.exceptions` and `streams.metrics`; never
`streams.routing` or `streams.operations`."""

from streams.model_plane.control import Controller
from streams.model_plane.drift import DriftMonitor
from streams.model_plane.mirrored import MirroredModelStore
from streams.model_plane.publishing import announce, publish_model
from streams.model_plane.refit import Refitter
from streams.model_plane.registry import KafkaRegistry
from streams.model_plane.restore import RegistryKeeper
from streams.model_plane.sample import SharedSample
from streams.model_plane.serving import ModelHolder, ServingModel
from streams.model_plane.store import Controls, InMemoryModelStore, ModelStore, RedisModelStore

__all__ = [
    "Controller",
    "Controls",
    "DriftMonitor",
    "InMemoryModelStore",
    "KafkaRegistry",
    "MirroredModelStore",
    "ModelHolder",
    "ModelStore",
    "RedisModelStore",
    "Refitter",
    "RegistryKeeper",
    "ServingModel",
    "SharedSample",
    "announce",
    "publish_model",
]
