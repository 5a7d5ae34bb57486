"""Planted changes of the lead population, and refit samples that mix old and new traffic: what a refit's
lineage and gate are measured against (`bench/refit_adaptation.py`, `tests/unit/test_refit_adaptation.py`)."""

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from segmentation.exceptions import InvalidParameterError
from segmentation.synthetic import PLANTED_SEGMENTS, PlantedGroup, SyntheticLeads, generate_groups

__all__ = ["CHANGES", "Change", "PopulationChange", "changed_population", "mixed_sample"]

Change = Literal["same", "gone", "new", "replaced", "split", "merged", "shrunk"]
CHANGES: tuple[Change, ...] = ("gone", "new", "replaced", "split", "merged", "shrunk")

_SMB, _MID, _CHURN = 1, 3, 4
_RESEARCHERS = PlantedGroup(
    "Solo Researchers",
    0.15,
    (93, 4),
    1,
    400,
    (16, 4),
    120,
    1,
    30,
    35,
    900,
    (5, 5),
    (5, 5),
    (0.02, 0.03, 0.05, 0.10, 0.80),
)


@dataclass(frozen=True)
class PopulationChange:
    """A planted change: the groups after it, which served groups (indices into `PLANTED_SEGMENTS`) it touches,
    and, per group after it, the planted group it continues (-1 for one that did not exist)."""

    kind: Change
    groups: tuple[PlantedGroup, ...]
    affected: tuple[int, ...]
    origin: tuple[int, ...]


def changed_population(kind: Change) -> PopulationChange:
    """The five planted groups after `kind`: Churn Risk gone, Solo Researchers new, both (Churn Risk replaced by
    Solo Researchers), SMB Quick Closers split in
    a hot and a cool half, Mid-Market Nurture and Churn Risk merged into one group between them, or Churn Risk
    shrunk to 2 % of leads.

    Examples:
        >>> change = changed_population("split")
        >>> [g.name for g in change.groups][1:3], change.affected, change.origin
        (['SMB Quick Closers (hot)', 'SMB Quick Closers (cool)'], (1,), (0, 1, 1, 2, 3, 4))
    """
    old = PLANTED_SEGMENTS
    same = tuple(range(len(old)))
    if kind == "same":
        return PopulationChange(kind, old, (), same)
    if kind == "gone":
        return PopulationChange(kind, old[:_CHURN], (_CHURN,), same[:_CHURN])
    if kind == "new":
        return PopulationChange(kind, (*old, _RESEARCHERS), (), (*same, -1))
    if kind == "replaced":
        return PopulationChange(kind, (*old[:_CHURN], _RESEARCHERS), (_CHURN,), (*same[:_CHURN], -1))
    if kind == "shrunk":
        return PopulationChange(kind, (*old[:_CHURN], replace(old[_CHURN], share=0.02)), (_CHURN,), same)
    if kind == "split":
        smb = old[_SMB]
        hot = replace(smb, name=f"{smb.name} (hot)", share=smb.share / 2, engagement=(92, 4), pricing_page_visits=16,
                      time_on_site=18, pages_viewed=24)  # fmt: skip
        cool = replace(smb, name=f"{smb.name} (cool)", share=smb.share / 2, engagement=(55, 6), pricing_page_visits=3,
                       time_on_site=3, pages_viewed=4)  # fmt: skip
        return PopulationChange(kind, (old[0], hot, cool, *old[2:]), (_SMB,), (0, _SMB, _SMB, 2, 3, 4))
    if kind == "merged":
        return PopulationChange(kind, (*old[:_MID], _between(old[_MID], old[_CHURN])), (_MID, _CHURN), (0, 1, 2, -1))
    raise InvalidParameterError(f"unknown change {kind!r}, expected one of {('same', *CHANGES)}")


def mixed_sample(change: PopulationChange, old_share: float, n: int, *, random_state: int = 0) -> SyntheticLeads:
    """`n` leads, `old_share` of them from the five planted groups and the rest from `change.groups`;
    `true_segment` numbers the planted groups 0-4 and the changed population's groups from 5 on (a group the
    change leaves as it was keeps its planted number).

    Examples:
        >>> leads = mixed_sample(changed_population("gone"), 0.2, 1000, random_state=1)
        >>> leads.X.shape, int((leads.true_segment == 4).sum()) < 40
        ((1000, 12), True)
    """
    if not 0 <= old_share <= 1:
        raise InvalidParameterError(f"old_share must be within 0..1, got {old_share}")
    n_old = round(n * old_share)
    parts, truth = [], []
    if n_old:
        before = generate_groups(PLANTED_SEGMENTS, n_old, random_state=random_state)
        parts.append(before.X)
        truth.append(before.true_segment)
    numbers = _numbers(change)
    if n - n_old:
        after = generate_groups(change.groups, n - n_old, random_state=random_state + 10_000)
        parts.append(after.X)
        truth.append(numbers[after.true_segment])
    names = [g.name for g in PLANTED_SEGMENTS]
    names += [g.name for g, number in zip(change.groups, numbers, strict=True) if number >= len(PLANTED_SEGMENTS)]
    return SyntheticLeads(np.vstack(parts), np.concatenate(truth), tuple(names))


def _numbers(change: PopulationChange) -> np.ndarray:
    """Each changed group's number: its planted one if the change left its leads as they were (its share aside),
    else the next from 5."""
    numbers, fresh = [], len(PLANTED_SEGMENTS)
    for group, origin in zip(change.groups, change.origin, strict=True):
        if origin >= 0 and replace(group, share=PLANTED_SEGMENTS[origin].share) == PLANTED_SEGMENTS[origin]:
            numbers.append(origin)
        else:
            numbers.append(fresh)
            fresh += 1
    return np.array(numbers)


def _between(a: PlantedGroup, b: PlantedGroup) -> PlantedGroup:
    """One group whose every parameter lies halfway between `a`'s and `b`'s (geometric for scales, which the
    model sees on a log scale), holding both shares."""

    def mid(x: float, y: float, scale: bool) -> float:
        return float(np.sqrt(x * y)) if scale else (x + y) / 2

    values = {}
    for field in ("company_size", "website_traffic", "linkedin_connections", "revenue_potential"):
        values[field] = mid(getattr(a, field), getattr(b, field), True)
    for field in ("pricing_page_visits", "time_on_site", "pages_viewed"):
        values[field] = mid(getattr(a, field), getattr(b, field), False)
    pairs = ("engagement", "email_open_rate", "location_fit", "industry_fit", "decision_maker")
    tuples = {f: tuple(mid(x, y, False) for x, y in zip(getattr(a, f), getattr(b, f), strict=True)) for f in pairs}
    return replace(a, name=f"{a.name} + {b.name}", share=a.share + b.share, **values, **tuples)  # type: ignore[arg-type]
