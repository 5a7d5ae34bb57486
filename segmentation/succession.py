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

__all__ = ["IDENTITY_SLACK", "Served", "Succession", "alternatives", "prefer_identity", "succeed"]

IDENTITY_SLACK = 0.05
"""When K is chosen, the K-choice's pick stands unless it moves more than this share of held-out leads in ways its
lineage does not explain, or splits a served segment in parts resamples do not reproduce: then the next K in the
K-choice's order that does neither is taken (see `prefer_identity`)."""


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
        >>> X = generate_leads(800, random_state=4).X
        >>> [m.n_clusters_ for m in alternatives(LeadSegmenter(max_k=5).fit(X), X)]
        [5, 4, 2]
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

    Options are taken in the K-choice's order (sharpest distortion jump first); the first with no split that bootstrap
    refits do not reproduce and at most `IDENTITY_SLACK` of held-out leads moved unexplained is taken. Failing that,
    the first with no such split and unexplained moves within `moved_share`; failing that, the fewest unexplained.

    Examples:
        >>> from types import SimpleNamespace as Option
        >>> first = Option(doubts=("cut",), moves=Moves(0.2, 0.0, 0.2), kept=4, model=Option(n_clusters_=6))
        >>> second = Option(doubts=(), moves=Moves(0.1, 0.1, 0.0), kept=4, model=Option(n_clusters_=5))
        >>> best, why = prefer_identity([first, second], 0.3)
        >>> best.model.n_clusters_, why[:39]
        (5, 'K=5 keeps the served segments: K=6, the')
    """

    def rank(i: int) -> tuple[bool, bool, float, int]:
        unexplained = options[i].moves.unexplained
        fails = bool(options[i].doubts) or unexplained > moved_share
        return fails, fails or unexplained > IDENTITY_SLACK, unexplained if fails else 0.0, i

    ranked = sorted(range(len(options)), key=rank)
    best, first = options[ranked[0]], options[0]
    if ranked[0] == 0:
        return best, None
    problem = first.doubts[0] if first.doubts else f"moves {first.moves.unexplained:.1%} of held-out leads unexplained"
    return best, (
        f"K={best.model.n_clusters_} keeps the served segments: K={first.model.n_clusters_}, the sharpest distortion "
        f"jump among the K that pass every guard, {problem}; K={best.model.n_clusters_} keeps {best.kept} served "
        f"segments and moves {best.moves.unexplained:.1%} unexplained."
    )
