"""Segment lineage across a refit: which candidate segments keep a served segment's id, which are new, and
which served segments were retired, split or merged."""

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["Lineage", "LineageStep", "crosstab", "trace_lineage"]

Kind = Literal["kept", "new", "retired", "split", "merged"]


@dataclass(frozen=True)
class LineageStep:
    """What happened to one segment id: `from_ids` are the served segments involved, `into_ids` the
    candidate segments (a kept segment is both; a new one has no `from_ids`, a retired one no `into_ids`)."""

    segment_id: int
    kind: Kind
    from_ids: tuple[int, ...]
    into_ids: tuple[int, ...]


@dataclass(frozen=True)
class Lineage:
    """`ids[j]` is candidate segment j's id, `kept[j]` whether it is a served segment's; `high_water` the
    largest id ever used, fresh ones included."""

    ids: tuple[int, ...]
    kept: tuple[bool, ...]
    steps: tuple[LineageStep, ...]
    high_water: int


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
    split_share: float = 0.25,
    purity: float = 0.5,
) -> Lineage:
    """Lineage of k candidate segments from m served ones.

    `distances[i, j]` is between served centroid i and candidate centroid j in the served model's space, `radii[i]`
    the farthest a match of served segment i may be; `table` is `crosstab` of held-out leads under both models.
    Segments are first paired one to one (Hungarian on distance) within the radius: a pair is **kept** (the
    candidate takes the served id). Of the rest, a served segment whose leads fall, each part at least
    `split_share` of them, into two or more unpaired candidates that each draw at least `purity` of their leads
    from it is **split**; a candidate that takes the majority of the leads of two or more served segments (or of
    one, if it kept another's id) is their **merge**. Unpaired candidates left are **new**, served segments left
    **retired**, as is any unpaired one with under a quarter of its `expected` held-out leads (gone from the
    population). Split, merged and new segments get fresh ids above `high_water`.

    Examples:
        >>> import numpy as np
        >>> d = np.array([[0.1, 5.0, 9.0], [5.0, 6.0, 0.2]])
        >>> table = np.array([[50, 0, 0], [0, 0, 40]])
        >>> lineage = trace_lineage(d, np.array([1.0, 1.0]), table, np.array([3, 7]), 7)
        >>> lineage.ids, lineage.high_water
        ((3, 8, 7), 8)
        >>> [(s.segment_id, s.kind) for s in lineage.steps]
        [(3, 'kept'), (7, 'kept'), (8, 'new')]
        >>> split = trace_lineage(np.array([[2.0, 2.0]]), np.array([1.0]), np.array([[30, 30]]), np.array([0]), 0)
        >>> [(s.segment_id, s.kind, s.from_ids, s.into_ids) for s in split.steps]
        [(0, 'split', (0,), (1, 2)), (1, 'split', (0,), (1, 2)), (2, 'split', (0,), (1, 2))]
    """
    m, k = table.shape
    rows = np.maximum(table.sum(axis=1, keepdims=True), 1)
    cols = np.maximum(table.sum(axis=0, keepdims=True), 1)
    row_share, col_share = table / rows, table / cols
    ids = np.full(k, -1)
    kept = np.zeros(k, dtype=bool)
    fate: dict[int, tuple[Kind, list[int], list[int]]] = {}  # served index -> kind, served, candidate indices
    born: dict[int, tuple[Kind, list[int], list[int]]] = {}  # candidate index -> the same

    free_served, free_candidates = list(range(m)), list(range(k))
    if m and k:
        # Imported here, not at the top: a worker that only assigns never loads SciPy.
        from scipy.optimize import linear_sum_assignment

        for i, j in zip(*linear_sum_assignment(distances), strict=True):
            if distances[i, j] <= radii[i]:
                ids[j], kept[j] = served_ids[i], True
                fate[i] = ("kept", [i], [j])
                free_served.remove(i)
                free_candidates.remove(j)
    present = [i for i in free_served if expected is None or rows[i, 0] >= 0.25 * expected[i]]
    for i in present:
        children = [j for j in free_candidates if row_share[i, j] >= split_share and col_share[i, j] >= purity]
        if len(children) >= 2:
            fate[i] = ("split", [i], children)
            born |= {j: ("split", [i], children) for j in children}
    for j in range(k):
        parents = [i for i in present if i not in fate and row_share[i, j] > 0.5]
        if kept[j] and parents:
            parents = [int(np.flatnonzero(served_ids == ids[j])[0]), *parents]
            fate |= {i: ("merged", parents, [j]) for i in parents[1:]}
        elif j not in born and len(parents) >= 2:
            born[j] = ("merged", parents, [j])
            fate |= {i: ("merged", parents, [j]) for i in parents}
    for j in range(k):
        if ids[j] < 0:
            high_water += 1
            ids[j] = high_water
    steps = [
        LineageStep(int(ids[j]), "kept", (int(ids[j]),), (int(ids[j]),))
        if kept[j]
        else _step(int(ids[j]), *born.get(j, ("new", [], [j])), served_ids, ids)
        for j in range(k)
    ]
    steps += [
        _step(int(served_ids[i]), *fate.get(i, ("retired", [i], [])), served_ids, ids)
        for i in range(m)
        if fate.get(i, ("retired",))[0] != "kept"
    ]
    return Lineage(tuple(int(i) for i in ids), tuple(bool(x) for x in kept), tuple(sorted(steps, key=_id)), high_water)


def _step(
    segment_id: int, kind: Kind, served: list[int], candidates: list[int], served_ids: np.ndarray, ids: np.ndarray
) -> LineageStep:
    return LineageStep(
        segment_id, kind, tuple(int(served_ids[i]) for i in served), tuple(sorted(int(ids[j]) for j in candidates))
    )


def _id(step: LineageStep) -> int:
    return step.segment_id
