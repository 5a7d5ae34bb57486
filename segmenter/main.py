"""The `segmenter` entry point: importing the command modules registers their commands."""

import os

# OpenMP threads (scikit-learn's K-Means) spin while they wait; on a busy two-core machine that made a
# fit twice as slow. Must be set before scikit-learn loads libgomp; a user's own value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from segmenter import batch_cli, control_cli, demo, impact_cli, local_cli, stream_cli  # noqa: E402, F401
from segmenter.app import app  # noqa: E402

__all__ = ["app"]
