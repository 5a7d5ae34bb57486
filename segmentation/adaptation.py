"""Whether a refit adapted right to a planted population change (`segmentation.populations`): promoted, every
surviving group under its served id, and the lineage naming the change as planted, nothing else."""

from dataclasses import dataclass

import numpy as np

from segmentation.populations import PopulationChange
from segmentation.synthetic import PLANTED_SEGMENTS

__all__ = ["VISIBLE_BELOW", "RefitOutcome", "Step", "group_ids", "problems"]

VISIBLE_BELOW = 0.5
"""The change must be named when less than this share of the sample is old traffic; from it on, the old groups
still hold their own in the sample, so the affected served segments may also stay as they were."""

Step = tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # kind, from, into, absorbed


@dataclass(frozen=True)
class RefitOutcome:
    """A refit in plain values: promoted or not, its lineage (`steps[id]`), the served id of each planted group,
    and the candidate id holding most of each group of the sample (planted numbers, new groups from 5)."""

    promoted: bool
    steps: dict[int, Step]
    served: dict[int, int]
    candidate: dict[int, int]


def group_ids(truth: np.ndarray, ids: np.ndarray) -> dict[int, int]:
    """Per group in `truth`, the segment id (of `ids`, one per lead) holding most of its leads.

    Examples:
        >>> group_ids(np.array([0, 0, 0, 1, 1]), np.array([7, 7, 3, 3, 3]))
        {0: 7, 1: 3}
    """
    found = {}
    for group in np.unique(truth):
        values, counts = np.unique(ids[truth == group], return_counts=True)
        found[int(group)] = int(values[counts.argmax()])
    return found


def problems(change: PopulationChange, old_share: float, outcome: RefitOutcome) -> list[str]:
    """What is wrong with `outcome` as the refit of a sample with `old_share` old traffic and the rest after `change`
    (empty when it is right). Right is: promoted; each planted group the change leaves alone held by its served id;
    the change named — a gone group retired or absorbed, a new group under a fresh `new` id, a split group `split`
    into two fresh ids holding its halves, two merged groups in one segment (`merged` under a fresh id, or one kept
    that absorbed the other), a shrunk group kept, absorbed or retired — and no other step. With `VISIBLE_BELOW` or
    more old traffic, affected groups may also be kept and a new one not found.

    Examples:
        >>> from segmentation.populations import changed_population
        >>> served = {g: g for g in range(5)}
        >>> kept = {i: ("kept", (i,), (i,), ()) for i in range(4)}
        >>> gone = RefitOutcome(True, kept | {4: ("merged", (0, 4), (0,), ())}, served, {g: g for g in range(4)})
        >>> problems(changed_population("gone"), 0.2, gone)
        []
        >>> problems(changed_population("gone"), 0.2, RefitOutcome(False, gone.steps, served, gone.candidate))
        ['rejected']
    """
    found: list[str] = [] if outcome.promoted else ["rejected"]
    steps, served = outcome.steps, outcome.served
    optional = old_share >= VISIBLE_BELOW
    left_alone = [g for g in range(len(PLANTED_SEGMENTS)) if g not in change.affected]
    for g in left_alone:
        if g in outcome.candidate and outcome.candidate[g] != served[g]:
            found.append(f"{PLANTED_SEGMENTS[g].name} moved from id {served[g]} to {outcome.candidate[g]}")
        elif _kind(steps, served[g]) != "kept":
            found.append(f"{PLANTED_SEGMENTS[g].name} ({served[g]}) is {_kind(steps, served[g])}")
    fresh = {i for i in steps if i not in served.values()}
    named = _named(change, outcome, fresh)
    as_before = all(_kind(steps, served[g]) == "kept" for g in change.affected)
    if named is not None and not (optional and as_before):
        found.append(named)
    expected_fresh = _fresh(change, outcome)
    unexpected = [f"{i} {steps[i][0]}" for i in sorted(fresh - expected_fresh)]
    found += [f"unplanted segment {u}" for u in unexpected]
    return found


def _named(change: PopulationChange, outcome: RefitOutcome, fresh: set[int]) -> str | None:
    """What is missing from the lineage's naming of the change, or None."""
    steps, served = outcome.steps, outcome.served
    if change.kind in ("new", "replaced"):
        i = outcome.candidate.get(len(PLANTED_SEGMENTS), -1)
        if i not in fresh or _kind(steps, i) != "new":
            return f"the new group is in segment {i} ({_kind(steps, i)}), not a new one"
    if change.kind in ("gone", "replaced"):
        (g,) = change.affected
        if _kind(steps, served[g]) not in ("retired", "merged"):
            return f"{PLANTED_SEGMENTS[g].name} ({served[g]}) is {_kind(steps, served[g])}, not gone"
    if change.kind == "shrunk":
        (g,) = change.affected
        if _kind(steps, served[g]) not in ("kept", "retired", "merged"):
            return f"{PLANTED_SEGMENTS[g].name} ({served[g]}) is {steps[served[g]][0]}"
    if change.kind == "split":
        (g,) = change.affected
        halves = {outcome.candidate.get(5, -1), outcome.candidate.get(6, -1)}
        into = steps[served[g]][2] if served[g] in steps else ()
        if _kind(steps, served[g]) != "split" or set(into) != halves or len(halves) != 2:
            name, kind = PLANTED_SEGMENTS[g].name, _kind(steps, served[g])
            return f"{name} ({served[g]}) is {kind} into {into}, halves in {sorted(halves)}"
    if change.kind == "merged":
        a, b = (served[g] for g in change.affected)
        merged = outcome.candidate.get(5, -1)
        kinds = {_kind(steps, a), _kind(steps, b)}
        if not (kinds == {"merged"} or kinds == {"kept", "merged"}) or merged not in {a, b} | fresh:
            return f"the merged groups' segments are {sorted(kinds)}, their leads in {merged}"
    return None


def _fresh(change: PopulationChange, outcome: RefitOutcome) -> set[int]:
    """The fresh ids the change accounts for: a new group's segment, a split's halves, a merge's segment."""
    steps = outcome.steps
    new_group = [n for n, o in enumerate(change.origin) if o < 0]
    if change.kind in ("new", "replaced"):
        i = outcome.candidate.get(len(PLANTED_SEGMENTS), -1)
        return {i} if _kind(steps, i) == "new" else set()
    if change.kind == "split":
        return {i for i in outcome.candidate.values() if _kind(steps, i) == "split"}
    if change.kind == "merged" and new_group:
        i = outcome.candidate.get(len(PLANTED_SEGMENTS), -1)
        return {i} if _kind(steps, i) == "merged" else set()
    return set()


def _kind(steps: dict[int, Step], segment_id: int) -> str:
    return steps[segment_id][0] if segment_id in steps else "missing"
