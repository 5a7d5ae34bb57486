"""The randomized holdout: which arm a lead is in, decided by a stable keyed hash of its id and a salt, so a lead
keeps its arm on every worker, engine and offline run, and a new salt draws a new holdout."""

import hashlib
from collections.abc import Sequence
from typing import Literal

from segmentation.exceptions import InvalidParameterError

__all__ = ["MAX_HOLDOUT_SHARE", "HoldoutDraw"]

MAX_HOLDOUT_SHARE = 0.5
_SCALE = float(1 << 64)


class HoldoutDraw:
    """Puts a lead in the holdout when the 8-byte BLAKE2b hash of its id, keyed by the SHA-256 of the salt and read as
    a share of 2**64, falls below `share`.

    Examples:
        >>> draw = HoldoutDraw(0.05, salt="")
        >>> [draw.arm(f"lead-{i}") for i in range(3)], draw.arm("lead-0") == draw.arm("lead-0")
        (['segmented', 'segmented', 'segmented'], True)
        >>> sum(draw.arm(f"lead-{i}") == "holdout" for i in range(10_000))
        511
    """

    def __init__(self, share: float, salt: str = "") -> None:
        if not 0 <= share <= MAX_HOLDOUT_SHARE:
            raise InvalidParameterError(f"the holdout share must be between 0 and {MAX_HOLDOUT_SHARE}, not {share}")
        self.share = share
        self._threshold = share * _SCALE
        self._key = hashlib.sha256(salt.encode()).digest()  # any salt, whatever its length, as a 32-byte key

    def held(self, lead_ids: Sequence[str]) -> list[bool]:
        """Per lead, whether it is in the holdout (one pass, for a batch on the hot path)."""
        if not self.share:
            return [False] * len(lead_ids)
        blake2b, key, threshold, big = hashlib.blake2b, self._key, self._threshold, int.from_bytes
        return [big(blake2b(i.encode(), key=key, digest_size=8).digest(), "big") < threshold for i in lead_ids]

    def in_holdout(self, lead_id: str) -> bool:
        return self.held((lead_id,))[0]

    def arm(self, lead_id: str) -> Literal["segmented", "holdout"]:
        return "holdout" if self.in_holdout(lead_id) else "segmented"
