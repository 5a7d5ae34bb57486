"""Errors of the schema layer."""

from segmentation.exceptions import SegmenterError

__all__ = ["ConfigError", "SnapshotError"]


class ConfigError(SegmenterError, ValueError):
    """A configuration file or setting is invalid."""


class SnapshotError(SegmenterError, ValueError):
    """A model artifact cannot be read or does not fit together."""
