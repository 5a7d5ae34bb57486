"""Segment lineage across a refit: which candidate segments keep a served segment's id (and which served segments
they absorbed), which are new, and which served segments were retired, split or merged.

The rules follow MONIC (Spiliopoulou et al., 2006: survive, absorb, split, disappear, emerge, judged by how the
members of a cluster are shared out) with the thresholds of the R package clusTransition, and keep the distance of
centroids as a second signal."""

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "GONE_SHARE",
    "MERGE_SHARE",
    "PURITY",
    "SPLIT_SHARE",
    "SURVIVAL",
    "Lineage",
    "LineageStep",
    "crosstab",
    "trace_lineage",
]

Kind = Literal["kept", "new", "retired", "split", "merged"]

SURVIVAL = 0.7
"""A candidate segment that takes at least this share of a served segment's members, and draws at least `PURITY`
of its own leads from them, continues it: it keeps the id even when its centroid moved (clusTransition's 0.7)."""
SPLIT_SHARE = 0.3
"""A served segment no candidate continues is split when two or more candidates each take at least this share of
its members and each draw at least `PURITY` of their own leads from them (clusTransition's 0.3)."""
PURITY = 0.5
"""The share of a candidate segment's leads that must be members of one served segment for it to continue or
split that segment: a majority, so a candidate continues at most one served segment."""
MERGE_SHARE = 0.25
"""A candidate that takes at least `SURVIVAL` of two served segments' members continues neither when the smaller
brings at least this share of its leads: that is a merge, and the merged segment gets a fresh id. Below it the
smaller is a remnant the larger absorbed (MONIC's absorption; the share is ours)."""
GONE_SHARE = 0.25
"""A served segment no candidate continues, with fewer members than this share of its expected held-out leads,
is retired (its group left the population) rather than merged."""


@dataclass(frozen=True)
class LineageStep:
    """What happened to one segment id: `from_ids` are the served segments involved, `into_ids` the candidate
    segments (a kept segment is both; a new one has no `from_ids`, a retired one no `into_ids`). A kept segment
    lists in `absorbed` the served segments merged into it (each of those has a `merged` step naming both)."""

    segment_id: int
    kind: Kind
    from_ids: tuple[int, ...]
    into_ids: tuple[int, ...]
    absorbed: tuple[int, ...] = ()


@dataclass(frozen=True)
class Lineage:
    """`ids[j]` is candidate segment j's id, `kept[j]` whether it is a served segment's; `high_water` the
    largest id ever used, fresh ones included; `scattered` the retired served segments whose members are still
    there (at least `GONE_SHARE` of the expected), shared out over candidates none of which takes most of them."""

    ids: tuple[int, ...]
    kept: tuple[bool, ...]
    steps: tuple[LineageStep, ...]
    high_water: int
    scattered: tuple[int, ...] = ()

    def step_of(self, segment_id: int) -> LineageStep:
        """The step of `segment_id` (served or candidate)."""
        return next(step for step in self.steps if step.segment_id == segment_id)


def crosstab(served: np.ndarray, candidate: np.ndarray, m: int, k: int) -> np.ndarray:
    """Counts of leads in served segment i (row) and candidate segment j (column).

    Examples:
        >>> import numpy as np
        >>> crosstab(np.array([0, 0, 1]), np.array([1, 1, 0]), 2, 2).tolist()
        [[0, 2], [1, 0]]
    """
    table = np.zeros((m, k), dtype=np.int64)
    np.add.at(table, (served, candidate), 1)
    return table


def trace_lineage(
    distances: np.ndarray,
    radii: np.ndarray,
    table: np.ndarray,
    served_ids: np.ndarray,
    high_water: int,
    *,
    expected: np.ndarray | None = None,
    members: np.ndarray | None = None,
    survival: float = SURVIVAL,
    split_share: float = SPLIT_SHARE,
    purity: float = PURITY,
) -> Lineage:
    """Lineage of k candidate segments from m served ones.

    `table` is `crosstab` of held-out leads under both models, `members` the same for the leads within each served
    segment's reach (by default all of them: see `segmentation.overlap`); `distances[i, j]` is between served
    centroid i and candidate centroid j in the served model's space, `radii[i]` the farthest a match by distance
    may be. In order:

    1. **kept** by overlap: a candidate that takes at least `survival` of a served segment's members and draws at
       least `purity` of its leads from them keeps its id, unless other served segments that give it `survival` of
       their members bring `MERGE_SHARE` of its leads or more (a merge);
    2. **split**: a served segment left whose members fall, each part at least `split_share` of them, into two or
       more candidates left that each draw at least `purity` of their leads from it;
    3. **kept** by distance: the segments left are paired one to one (Hungarian) within the radius;
    4. **merged**: a served segment left, still present (at least `GONE_SHARE` of its `expected` held-out leads),
       whose members go mostly (over half) to one candidate: into a kept one it is *absorbed* (the keeper lists it),
       and two or more into one left are merged under a fresh id;
    5. candidates left are **new**, served segments left **retired**. Split, merged and new segments get fresh ids
       above `high_water`.

    Examples:
        >>> import numpy as np
        >>> d = np.array([[0.1, 5.0, 9.0], [5.0, 6.0, 0.2]])
        >>> table = np.array([[50, 0, 0], [0, 0, 40]])
        >>> lineage = trace_lineage(d, np.array([1.0, 1.0]), table, np.array([3, 7]), 7)
        >>> lineage.ids, lineage.high_water
        ((3, 8, 7), 8)
        >>> [(s.segment_id, s.kind) for s in lineage.steps]
        [(3, 'kept'), (7, 'kept'), (8, 'new')]
        >>> moved = trace_lineage(np.array([[2.0, 9.0], [9.0, 2.0]]), np.ones(2), np.array([[60, 0], [12, 28]]),
        ...                       np.array([0, 1]), 1)  # far centroids, but the members stayed
        >>> [(s.segment_id, s.kind, s.absorbed) for s in moved.steps]
        [(0, 'kept', ()), (1, 'kept', ())]
        >>> split = trace_lineage(np.array([[2.0, 2.0]]), np.array([1.0]), np.array([[30, 30]]), np.array([0]), 0)
        >>> [(s.segment_id, s.kind, s.from_ids, s.into_ids) for s in split.steps]
        [(0, 'split', (0,), (1, 2)), (1, 'split', (0,), (1, 2)), (2, 'split', (0,), (1, 2))]
    """
    members = table if members is None else members
    m, k = table.shape
    counts = np.maximum(members.sum(axis=1, keepdims=True), 1)
    taken = members / counts  # share of served i's members that candidate j takes
    drawn = members / np.maximum(table.sum(axis=0, keepdims=True), 1)  # share of j's leads that are i's members
    pairs: dict[int, int] = {}  # candidate index -> served index it continues
    fate: dict[int, tuple[Kind, list[int], list[int]]] = {}  # served index -> kind, served, candidate indices
    born: dict[int, tuple[Kind, list[int], list[int]]] = {}  # candidate index -> the same

    gives = taken >= survival
    partners = np.where(gives, drawn, 0).sum(axis=0) - np.where(gives, drawn, 0).max(axis=0, initial=0)
    for i, j in zip(*np.nonzero(gives & (drawn >= purity) & (partners < MERGE_SHARE)), strict=True):
        pairs[int(j)] = int(i)
    free_served = [i for i in range(m) if i not in pairs.values()]
    for i in free_served:
        children = [j for j in range(k) if j not in pairs and taken[i, j] >= split_share and drawn[i, j] >= purity]
        if len(children) >= 2:
            fate[i] = ("split", [i], children)
            born |= {j: ("split", [i], children) for j in children}
    free_served = [i for i in free_served if i not in fate]
    free_candidates = [j for j in range(k) if j not in pairs and j not in born]
    if free_served and free_candidates:
        # Imported here, not at the top: a worker that only assigns never loads SciPy.
        from scipy.optimize import linear_sum_assignment

        near = distances[np.ix_(free_served, free_candidates)]
        for a, b in zip(*linear_sum_assignment(near), strict=True):
            if near[a, b] <= radii[free_served[a]]:
                pairs[free_candidates[b]] = free_served[a]
    continued = set(pairs.values())
    present = [
        i
        for i in range(m)
        if i not in continued and i not in fate and (expected is None or counts[i, 0] >= GONE_SHARE * expected[i])
    ]
    absorbed: dict[int, list[int]] = {}
    for j in range(k):
        parents = [i for i in present if taken[i, j] > 0.5]
        if j in pairs and parents:
            absorbed[j] = parents
            fate |= {i: ("merged", [pairs[j], i], [j]) for i in parents}
        elif j not in born and j not in pairs and len(parents) >= 2:
            born[j] = ("merged", parents, [j])
            fate |= {i: ("merged", parents, [j]) for i in parents}
    ids = np.full(k, -1)
    for j, i in pairs.items():
        ids[j] = served_ids[i]
    for j in range(k):
        if ids[j] < 0:
            high_water += 1
            ids[j] = high_water
    steps = [
        LineageStep(
            int(ids[j]), "kept", (int(ids[j]),), (int(ids[j]),), tuple(int(served_ids[i]) for i in absorbed.get(j, ()))
        )
        if j in pairs
        else _step(int(ids[j]), *born.get(j, ("new", [], [j])), served_ids, ids)
        for j in range(k)
    ]
    steps += [
        _step(int(served_ids[i]), *fate.get(i, ("retired", [i], [])), served_ids, ids)
        for i in range(m)
        if i not in continued
    ]
    kept = tuple(j in pairs for j in range(k))
    scattered = tuple(int(served_ids[i]) for i in present if i not in fate)
    return Lineage(tuple(int(i) for i in ids), kept, tuple(sorted(steps, key=_id)), high_water, scattered)


def _step(
    segment_id: int, kind: Kind, served: list[int], candidates: list[int], served_ids: np.ndarray, ids: np.ndarray
) -> LineageStep:
    return LineageStep(
        segment_id, kind, tuple(int(served_ids[i]) for i in served), tuple(sorted(int(ids[j]) for j in candidates))
    )


def _id(step: LineageStep) -> int:
    return step.segment_id
