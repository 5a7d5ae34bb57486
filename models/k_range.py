"""The one range of K, the number of segments of a model: `segmenter fit --k`, `--max-k`, `set-k`, the `set_k`
command and `SEGMENTER_REFIT_MAX_K` all take it."""

__all__ = ["MAX_K", "MIN_K"]

MIN_K = 2
MAX_K = 30
