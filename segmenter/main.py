"""The `segmenter` entry point: importing the command modules registers their commands."""

from segmenter import cli, stream_cli  # noqa: F401
from segmenter.app import app

__all__ = ["app"]
