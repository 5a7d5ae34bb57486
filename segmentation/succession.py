"""A refit candidate against the served model: its overlap, lineage, moved leads and doubtful splits; and, when K is
chosen again, which of the K that pass the K-choice guards keeps the served segments best."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segmentation.lineage import Lineage
from segmentation.overlap import MATCH_RADIUS, Moves, SegmentOverlap, measure_overlap, moves
from segmentation.segmenter import LeadSegmenter
from segmentation.selection import eligible
from segmentation.splits import doubtful_splits

__all__ = ["Served", "Succession", "alternatives", "prefer_identity", "succeed"]


@dataclass(frozen=True)
class Served:
    """What a refit knows of the served model: the segmenter, its segment ids, names and fitted shares, and the
    largest id it ever used."""

    model: LeadSegmenter
    ids: np.ndarray
    names: dict[int, str]
    shares: np.ndarray
    high_water: int


@dataclass(frozen=True)
class Succession:
    """A candidate segmenter, the figures it was traced from, its lineage, the held-out leads it moves, and one
    sentence per split of a served segment that bootstrap refits do not reproduce."""

    model: LeadSegmenter
    overlap: SegmentOverlap
    lineage: Lineage
    moves: Moves
    doubts: tuple[str, ...]

    @property
    def kept(self) -> int:
        """How many served segments the candidate keeps."""
        return sum(self.lineage.kept)


def succeed(
    served: Served,
    candidate: LeadSegmenter,
    train: np.ndarray,
    holdout: np.ndarray,
    *,
    match_radius: float = MATCH_RADIUS,
    random_state: int = 0,
) -> Succession:
    """Trace `candidate` (fitted on `train`) from `served` on the `holdout` leads.

    Examples:
        >>> from segmentation.synthetic import generate_leads
        >>> old = LeadSegmenter(n_clusters=5).fit(generate_leads(2000, random_state=1).X)
        >>> served = Served(old, np.array([4, 0, 1, 2, 3]), {}, np.full(5, 0.2), 4)
        >>> train, holdout = generate_leads(2000, random_state=2).X, generate_leads(500, random_state=3).X
        >>> outcome = succeed(served, LeadSegmenter(n_clusters=5).fit(train), train, holdout)
        >>> sorted(outcome.lineage.ids), outcome.kept, outcome.moves.unexplained < 0.05, outcome.doubts
        ([0, 1, 2, 3, 4], 5, True, ())
    """
    overlap = measure_overlap(served.model, candidate, train, holdout, shares=served.shares, match_radius=match_radius)
    lineage = overlap.trace(served.ids, served.high_water)
    doubts: tuple[str, ...] = ()
    if any(step.kind == "split" for step in lineage.steps):
        doubts = doubtful_splits(
            lineage,
            served.ids,
            candidate.transform(train),
            served.model.predict(train),
            candidate.predict(train),
            names=served.names,
            random_state=random_state,
        )
    return Succession(candidate, overlap, lineage, moves(overlap, lineage, served.ids), doubts)


def alternatives(chosen: LeadSegmenter, train: np.ndarray) -> list[LeadSegmenter]:
    """`chosen` (fitted on `train` with K chosen) and, for every other K that passes the K-choice guards
    (`segmentation.selection.eligible`), the same segmenter fitted on `train` with that K.

    Examples:
        >>> from segmentation.synthetic import generate_leads
        >>> X = generate_leads(1500, random_state=4).X
        >>> [m.n_clusters_ for m in alternatives(LeadSegmenter(max_k=6).fit(X), X)][:1]
        [5]
    """
    if chosen.selection_ is None:
        return [chosen]
    others = [s.k for s in eligible(chosen.selection_.scores) if s.k != chosen.n_clusters_]
    return [chosen] + [
        LeadSegmenter(
            n_clusters=k,
            features=chosen.features,
            log_features=chosen.log_features,
            pca=chosen.pca,
            algorithm=chosen.algorithm,
            random_state=chosen.random_state,
        ).fit(train)
        for k in others
    ]


def prefer_identity(options: Sequence[Succession], moved_share: float) -> tuple[Succession, str | None]:
    """The option that keeps the served segments best, and why, if it is not the first (the K-choice's own pick).

    In order: no split that bootstrap refits do not reproduce; unexplained moves within `moved_share`; the most
    served segments kept; the fewest unexplained moves; then the K-choice's order (sharpest distortion jump).

    Examples:
        >>> from types import SimpleNamespace as Option
        >>> first = Option(doubts=("cut",), moves=Moves(0.2, 0.0, 0.2), kept=4, model=Option(n_clusters_=6))
        >>> second = Option(doubts=(), moves=Moves(0.1, 0.1, 0.0), kept=4, model=Option(n_clusters_=5))
        >>> best, why = prefer_identity([first, second], 0.3)
        >>> best.model.n_clusters_, why[:40]
        (5, 'K=5 keeps the served segments best of t')
    """
    ranked = sorted(
        range(len(options)),
        key=lambda i: (
            bool(options[i].doubts),
            options[i].moves.unexplained > moved_share,
            -options[i].kept,
            round(options[i].moves.unexplained, 3),
            i,
        ),
    )
    best = options[ranked[0]]
    if ranked[0] == 0:
        return best, None
    ks = ", ".join(str(o.model.n_clusters_) for o in options)
    return best, (
        f"K={best.model.n_clusters_} keeps the served segments best of the K that pass every guard ({ks}): it keeps "
        f"{best.kept} with {best.moves.unexplained:.1%} of held-out leads moved unexplained and no doubtful split; "
        f"K={options[0].model.n_clusters_}, the sharpest distortion jump, keeps {options[0].kept}"
        + (f" and {options[0].doubts[0]}" if options[0].doubts else "")
        + "."
    )
