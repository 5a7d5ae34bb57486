"""Errors of the command-line edge."""

from segmentation.exceptions import SegmenterError

__all__ = ["InputFileError", "NoAssignmentsError", "OptionError", "OutputFileError"]


class InputFileError(SegmenterError, ValueError):
    """A leads file is missing, unreadable, or has bad rows."""


class OptionError(SegmenterError, ValueError):
    """A command-line option has a value the command cannot use."""


class OutputFileError(SegmenterError, ValueError):
    """An output path cannot be written: its folder is missing, or it is a folder."""


class NoAssignmentsError(SegmenterError):
    """The segments topic holds no assignment: no worker has routed a lead there."""
