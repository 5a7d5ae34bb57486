"""The offline `impact`'s inputs: the file `segmenter assign` wrote (who was exposed, in which segment and arm) and a
CRM export of outcomes, counted into the same tallies (`Cell`) the worker keeps.

Offline there are no exposure times: every lead of the assigned file was exposed (its first row counts), and every
outcome in the outcomes file is attributed to it. Outcomes are taken in the file's order (export them oldest
first): a repeated `outcome_id` counts once, `reopened` retracts the lead's earlier result until a new one comes,
and the last result stands. A lead with no result is `open`, or `lost` with `window_closed`."""

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.events import Arm
from models.snapshot import ModelSnapshot
from segmentation.tallies import Cell
from segmenter.exceptions import InputFileError
from segmenter.file_formats import open_records

__all__ = ["Exposure", "Outcome", "Outcomes", "Tally", "read_exposures", "read_outcomes", "tally"]

OUTCOMES = ("won", "lost", "reopened")
_FIX = "fix the file, or pass --drop-invalid to skip such rows"


@dataclass(frozen=True)
class Exposure:
    segment_id: int
    arm: Arm


@dataclass(frozen=True)
class Outcome:
    outcome_id: str
    lead_id: str
    outcome: Literal["won", "lost", "reopened"]
    amount: float


@dataclass(frozen=True)
class Outcomes:
    rows: list[Outcome]
    dropped: Counter[str]
    currency: str | None


@dataclass(frozen=True)
class Tally:
    cells: list[Cell]
    unattributed: int  # outcomes (each outcome_id once) for leads the assigned file does not have
    duplicates: int  # rows repeating an outcome_id already counted


def _columns(path: Path, columns: list[str], needed: tuple[str, ...]) -> None:
    if missing := [c for c in needed if c not in columns]:
        raise InputFileError(f"{path}: no {', '.join(missing)} column; it has {', '.join(columns) or 'none'}")


def read_exposures(path: Path) -> dict[str, Exposure]:
    """lead_id → its segment and arm, from `segmenter assign`'s output (no `arm` column: every lead segmented)."""
    records = open_records(path)
    _columns(path, records.columns, ("lead_id", "segment_id"))
    exposures: dict[str, Exposure] = {}
    for line, record in records.rows:
        lead_id, arm = str(record["lead_id"]).strip(), str(record.get("arm") or "segmented").strip()
        try:
            segment_id = int(record["segment_id"])
        except (TypeError, ValueError):
            raise InputFileError(
                f"{path}: {records.unit} {line}: segment_id {record['segment_id']!r} is not a whole number"
            ) from None
        if arm not in ("segmented", "holdout"):
            raise InputFileError(f"{path}: {records.unit} {line}: arm {arm!r} is neither segmented nor holdout")
        if lead_id:
            exposures.setdefault(lead_id, Exposure(segment_id, arm))  # type: ignore[arg-type]
    if not exposures:
        raise InputFileError(f"{path}: no assigned leads")
    return exposures


def read_outcomes(path: Path, *, drop_invalid: bool = False) -> Outcomes:
    """The outcomes of a CRM export: `outcome_id`, `lead_id`, `outcome` (won, lost, reopened), `amount` (required
    for won, at least 0), optional `currency` (one for the whole file) and `occurred_at`."""
    records = open_records(path)
    _columns(path, records.columns, ("outcome_id", "lead_id", "outcome"))
    rows: list[Outcome] = []
    dropped: Counter[str] = Counter()
    currencies: set[str] = set()
    for line, record in records.rows:
        try:
            rows.append(_outcome(record))
        except _BadRow as bad:
            if not drop_invalid:
                raise InputFileError(f"{path}: {records.unit} {line}: {bad}; {_FIX}") from None
            dropped[f"bad {bad.column}"] += 1
            continue
        if currency := str(record.get("currency") or "").strip().upper():
            currencies.add(currency)
    if len(currencies) > 1:
        raise InputFileError(f"{path}: amounts in {', '.join(sorted(currencies))}: convert them to one currency")
    return Outcomes(rows, dropped, currencies.pop() if currencies else None)


class _BadRow(ValueError):
    """A row's value that is not an outcome's; `column` names it, for the count of rows dropped."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def _text(record: dict[str, Any], name: str) -> str:
    if not (value := str(record.get(name) or "").strip()):
        raise _BadRow(name, f"no {name}")
    return value


def _outcome(record: dict[str, Any]) -> Outcome:
    outcome = _text(record, "outcome").lower()
    if outcome not in OUTCOMES:
        raise _BadRow("outcome", f"outcome {outcome!r}: give won, lost or reopened")
    amount = 0.0
    if outcome == "won":
        if not (text := str(record.get("amount") or "").strip()):
            raise _BadRow("amount", "amount missing: a won outcome needs its amount")
        try:
            amount = float(text.replace(",", ""))
        except ValueError:
            raise _BadRow("amount", f"amount {text!r}: not a number") from None
        if not math.isfinite(amount) or amount < 0:
            raise _BadRow("amount", f"amount {text!r}: must be a finite number of at least 0")
    return Outcome(_text(record, "outcome_id"), _text(record, "lead_id"), outcome, amount)  # type: ignore[arg-type]


def tally(
    snapshot: ModelSnapshot, exposures: dict[str, Exposure], outcomes: Iterable[Outcome], *, window_closed: bool
) -> Tally:
    """Count each segment × arm's leads and results into `Cell`s, with the model's assumed rates (the baseline's
    for the holdout arm).

    Examples:
        >>> from models.strategies import StrategyConfig
        >>> from models.training import fit_model
        >>> from segmentation.synthetic import generate_leads
        >>> snapshot = fit_model(generate_leads(300, random_state=0).X, config=StrategyConfig(), k=3, version=2)[1]
        >>> first = snapshot.segments[0].id
        >>> seen = {"a": Exposure(first, "segmented"), "b": Exposure(first, "holdout")}
        >>> t = tally(snapshot, seen, [Outcome("1", "a", "won", 100.0), Outcome("1", "a", "won", 100.0),
        ...                            Outcome("2", "zz", "lost", 0.0)], window_closed=True)
        >>> [(c.arm, c.won, c.lost, c.revenue) for c in t.cells], t.unattributed, t.duplicates
        ([('segmented', 1, 0, 100.0), ('holdout', 0, 1, 0.0)], 1, 1)
    """
    results: dict[str, float | None] = {}  # lead_id → amount won, or None for lost
    seen: set[str] = set()
    unattributed = duplicates = 0
    for outcome in outcomes:
        if outcome.outcome_id in seen:
            duplicates += 1
            continue
        seen.add(outcome.outcome_id)
        if outcome.lead_id not in exposures:
            unattributed += 1
        elif outcome.outcome == "reopened":
            results.pop(outcome.lead_id, None)
        else:
            results[outcome.lead_id] = outcome.amount if outcome.outcome == "won" else None
    counts: dict[tuple[int, Arm], Counter[str]] = {}
    sums: defaultdict[tuple[int, Arm, str], float] = defaultdict(float)
    for lead_id, exposure in exposures.items():
        key = (exposure.segment_id, exposure.arm)
        count = counts.setdefault(key, Counter())
        count["exposed"] += 1
        if lead_id in results and (amount := results[lead_id]) is not None:
            count["won"] += 1
            sums[(*key, "revenue")] += amount
            sums[(*key, "revenue_sq")] += amount * amount
        elif lead_id in results or window_closed:
            count["lost"] += 1
        else:
            count["open"] += 1
    segments = {s.id: s for s in snapshot.segments}
    cells = []
    for (segment_id, arm), count in sorted(counts.items(), key=lambda item: (item[0][0], item[0][1] != "segmented")):
        if segment_id not in segments:
            raise InputFileError(f"segment {segment_id} of the assigned file is not one of model {snapshot.version}'s")
        segment = segments[segment_id]
        strategy = snapshot.baseline.strategy if arm == "holdout" else segment.strategy
        cells.append(
            Cell(
                snapshot.version,
                segment_id,
                segment.name,
                arm,
                strategy.expected_close_rate,
                strategy.avg_deal_size,
                count["exposed"],
                count["won"],
                count["lost"],
                count["open"],
                sums[segment_id, arm, "revenue"],
                sums[segment_id, arm, "revenue_sq"],
            )  # fmt: skip
        )
    return Tally(cells, unattributed, duplicates)
