"""Errors raised by the segmentation core; every error of the project derives from `SegmenterError`."""

__all__ = ["InvalidLeadsError", "InvalidParameterError", "NotFittedError", "SegmenterError"]


class SegmenterError(Exception):
    """Root of every error this project raises on purpose."""


class NotFittedError(SegmenterError, ValueError):
    """An estimator was used before `fit`."""


class InvalidLeadsError(SegmenterError, ValueError):
    """Lead data breaks a feature's bounds or shape."""


class InvalidParameterError(SegmenterError, ValueError):
    """A parameter is out of its allowed range for the data at hand."""
