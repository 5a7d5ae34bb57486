"""The figures a refit's lineage is traced from: the candidate's segments placed in the served model's space, their
centroid distances and match radii, and how the held-out leads are shared out between the two models (all of them,
and the members: those within their served segment's reach). Also which moves of a lead the lineage explains."""

from dataclasses import dataclass

import numpy as np

from segmentation.kmeans import squared_distances
from segmentation.lineage import PURITY, Lineage, crosstab, trace_lineage
from segmentation.segmenter import LeadSegmenter

__all__ = ["MATCH_RADIUS", "Moves", "SegmentOverlap", "measure_overlap", "moves"]

MATCH_RADIUS = 0.5
"""A candidate centroid within this many times a served segment's median lead distance of that segment's centroid
(in the served model's space) may keep its id by distance, when no overlap rule decided."""


@dataclass(frozen=True)
class SegmentOverlap:
    """A served model (m segments) and a candidate (k) on the same leads. `distances` (m x k) between centroids and
    `radii` (m) in the served model's space; per held-out lead its served and candidate segment and whether it is a
    member of its served segment (within the served model's outlier distance of it); `table` and `members` the
    crosstabs of all held-out leads and of the members; `expected` each served segment's held-out leads at its
    fitted share."""

    distances: np.ndarray
    radii: np.ndarray
    served_index: np.ndarray
    candidate_index: np.ndarray
    member: np.ndarray
    table: np.ndarray
    members: np.ndarray
    expected: np.ndarray

    def trace(self, served_ids: np.ndarray, high_water: int) -> Lineage:
        """The lineage these figures give (`segmentation.lineage.trace_lineage`)."""
        return trace_lineage(
            self.distances,
            self.radii,
            self.table,
            served_ids,
            high_water,
            expected=self.expected,
            members=self.members,
        )


@dataclass(frozen=True)
class Moves:
    """Shares of held-out leads whose segment id a candidate changes: all of them, the ones its lineage explains and
    the rest (see `moves`)."""

    total: float
    explained: float
    unexplained: float


def measure_overlap(
    served: LeadSegmenter,
    candidate: LeadSegmenter,
    train: np.ndarray,
    holdout: np.ndarray,
    *,
    shares: np.ndarray,
    match_radius: float = MATCH_RADIUS,
) -> SegmentOverlap:
    """The figures of `candidate` (fitted on `train`) against `served` (whose segments held `shares` of its leads),
    its segments placed by the mean of their `train` leads in the served space, shared out on `holdout`.

    Examples:
        >>> from segmentation.synthetic import generate_leads
        >>> served = LeadSegmenter(n_clusters=5).fit(generate_leads(2000, random_state=1).X)
        >>> train, holdout = generate_leads(2000, random_state=2).X, generate_leads(500, random_state=3).X
        >>> candidate = LeadSegmenter(n_clusters=5).fit(train)
        >>> overlap = measure_overlap(served, candidate, train, holdout, shares=np.full(5, 0.2))
        >>> rows = overlap.table.sum(axis=1)
        >>> overlap.table.shape, int(rows.sum()), bool((overlap.table.max(axis=1) > 0.9 * rows).all())
        ((5, 5), 500, True)
    """
    m, k = served.n_clusters_, candidate.n_clusters_
    seen, labels = served.transform(train), candidate.predict(train)
    centroids = np.array(
        [seen[labels == j].mean(axis=0) if (labels == j).any() else seen[0] + np.inf for j in range(k)]
    )
    distances = np.sqrt(squared_distances(served.centroids_, np.nan_to_num(centroids, posinf=1e150)))
    radii = match_radius * served.distance_quantiles_[:, 0]
    placed = squared_distances(served.transform(holdout), served.centroids_)
    served_index, candidate_index = placed.argmin(axis=1), candidate.predict(holdout)
    member = np.sqrt(placed[np.arange(len(holdout)), served_index]) <= served.distance_quantiles_[served_index, -1]
    return SegmentOverlap(
        distances=distances,
        radii=radii,
        served_index=served_index,
        candidate_index=candidate_index,
        member=member,
        table=crosstab(served_index, candidate_index, m, k),
        members=crosstab(served_index[member], candidate_index[member], m, k),
        expected=np.asarray(shares, dtype=np.float64) * len(holdout),
    )


def moves(overlap: SegmentOverlap, lineage: Lineage, served_ids: np.ndarray) -> Moves:
    """Which held-out leads change segment id, and which of those the lineage explains.

    A move is **unexplained** when the lead is a member of a served segment that the candidate keeps, or retires
    although its members are still there (`Lineage.scattered`), and lands in a segment carved out of served
    members: one that keeps another served id (relabeling), or a new one that draws at least `PURITY` of its leads
    from the members of such segments (a split that the lineage did not see). Every other move is **explained**:
    its served segment was split, merged or retired with its group gone, or the lead lies outside its served
    segment's reach (traffic the served model never described), or it lands in a new segment that emerged from
    such traffic or from the split or merged segments.

    Examples:
        >>> from segmentation.lineage import trace_lineage
        >>> table = np.array([[45, 5, 0], [10, 40, 0], [0, 0, 0]])
        >>> figures = dict(distances=np.zeros((3, 3)), radii=np.ones(3), table=table, members=table,
        ...                expected=np.full(3, 33.0))
        >>> counts = [45, 5, 10, 40]
        >>> served_index, candidate_index = np.repeat([0, 0, 1, 1], counts), np.repeat([0, 1, 0, 1], counts)
        >>> overlap = SegmentOverlap(served_index=served_index, candidate_index=candidate_index,
        ...                          member=np.ones(100, bool), **figures)
        >>> lineage = trace_lineage(np.array([[0, 9, 9], [9, 0, 9], [9, 9, 9.0]]), np.ones(3), table, np.arange(3), 2)
        >>> moves(overlap, lineage, np.arange(3))
        Moves(total=0.15, explained=0.0, unexplained=0.15)
    """
    ids = np.array(lineage.ids)
    served_id, candidate_id = served_ids[overlap.served_index], ids[overlap.candidate_index]
    moved = served_id != candidate_id
    held = {ids[j] for j in range(len(ids)) if lineage.kept[j]} | set(lineage.scattered)
    kept_served = np.isin(served_ids, list(held))
    drawn = overlap.members[kept_served].sum(axis=0) / np.maximum(overlap.table.sum(axis=0), 1)
    carved = np.array(lineage.kept) | (drawn >= PURITY)
    unexplained = moved & overlap.member & kept_served[overlap.served_index] & carved[overlap.candidate_index]
    n = max(len(moved), 1)
    total, off = float(moved.sum() / n), float(unexplained.sum() / n)
    return Moves(total, total - off, off)
