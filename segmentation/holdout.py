"""The randomized holdout: which arm a lead is in, decided by a stable hash of its id and a salt, so a lead keeps its
arm on every worker, engine and offline run, and a new salt draws a new holdout."""

import hashlib
from typing import Literal

from segmentation.exceptions import InvalidParameterError

__all__ = ["MAX_HOLDOUT_SHARE", "HoldoutDraw"]

MAX_HOLDOUT_SHARE = 0.5
_SCALE = float(1 << 64)


class HoldoutDraw:
    """Puts a lead in the holdout when sha256(salt, lead_id)'s first 8 bytes, read as a share of 2**64, fall below
    `share`.

    Examples:
        >>> draw = HoldoutDraw(0.05, salt="")
        >>> [draw.arm(f"lead-{i}") for i in range(3)], draw.arm("lead-0") == draw.arm("lead-0")
        (['segmented', 'segmented', 'segmented'], True)
        >>> sum(draw.arm(f"lead-{i}") == "holdout" for i in range(10_000))
        499
    """

    def __init__(self, share: float, salt: str = "") -> None:
        if not 0 <= share <= MAX_HOLDOUT_SHARE:
            raise InvalidParameterError(f"the holdout share must be between 0 and {MAX_HOLDOUT_SHARE}, not {share}")
        self.share = share
        self._threshold = share * _SCALE
        # The salt's length goes first, so that ("ab", "c") and ("a", "bc") differ.
        self._prefix = hashlib.sha256(b"%d:" % len(salt.encode()) + salt.encode())

    def in_holdout(self, lead_id: str) -> bool:
        if not self.share:
            return False
        h = self._prefix.copy()
        h.update(lead_id.encode())
        return int.from_bytes(h.digest()[:8], "big") < self._threshold

    def arm(self, lead_id: str) -> Literal["segmented", "holdout"]:
        return "holdout" if self.in_holdout(lead_id) else "segmented"
