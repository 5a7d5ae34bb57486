"""Errors of the command-line edge."""

from segmentation.exceptions import SegmenterError

__all__ = ["InputFileError"]


class InputFileError(SegmenterError, ValueError):
    """A leads file is missing, unreadable, or has bad rows."""
