"""Errors of the command-line edge."""

from segmentation.exceptions import SegmenterError

__all__ = ["InputFileError", "OptionError"]


class InputFileError(SegmenterError, ValueError):
    """A leads file is missing, unreadable, or has bad rows."""


class OptionError(SegmenterError, ValueError):
    """A command-line option has a value the command cannot use."""
