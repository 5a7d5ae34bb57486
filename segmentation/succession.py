"""A refit candidate against the served model: its overlap, lineage, moved leads and doubtful splits; and, when K is
chosen again, which of the K that pass the K-choice guards keeps the served segments best."""

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from segmentation.gate import GateScores, GateVerdict, Tolerances, judge, score_partition
from segmentation.lineage import Lineage
from segmentation.overlap import MATCH_RADIUS, Moves, SegmentOverlap, measure_overlap, moves
from segmentation.segmenter import LeadSegmenter
from segmentation.selection import eligible
from segmentation.splits import doubtful_splits

__all__ = [
    "AROUND_SEEDS",
    "IDENTITY_SLACK",
    "Served",
    "Succession",
    "alternatives",
    "prefer_identity",
    "settled",
    "succeed",
]

AROUND_SEEDS = 3
"""Seeds the served K and its neighbours are fitted with when K is chosen again (the lowest inertia kept)."""
IDENTITY_SLACK = 0.05
"""When K is chosen, a K that moves at most this share of held-out leads in ways its lineage does not explain (and
splits no served segment in parts that resamples do not reproduce) is preferred; among those, one the gate promotes
(see `prefer_identity`)."""


@dataclass(frozen=True)
class Served:
    """What a refit knows of the served model: the segmenter, its segment ids, names and fitted shares, the
    largest id it ever used, and its gate scores on the held-out leads (`scored`)."""

    model: LeadSegmenter
    ids: np.ndarray
    names: dict[int, str]
    shares: np.ndarray
    high_water: int
    scores: GateScores | None = None

    def scored(self, holdout: np.ndarray, *, random_state: int = 0) -> "Served":
        """The same, with its partition of `holdout` scored in its scaled space (`segmentation.gate`)."""
        return replace(self, scores=_scores(self, holdout, random_state))


@dataclass(frozen=True)
class Succession:
    """A candidate segmenter, the figures it was traced from, its lineage, the held-out leads it moves, one
    sentence per split of a served segment that bootstrap refits do not reproduce, and the gate's verdict."""

    model: LeadSegmenter
    overlap: SegmentOverlap
    lineage: Lineage
    moves: Moves
    doubts: tuple[str, ...]
    verdict: GateVerdict

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
    tolerances: Tolerances,
    match_radius: float = MATCH_RADIUS,
    random_state: int = 0,
) -> Succession:
    """Trace `candidate` (fitted on `train`) from `served` (`Served.scored` on `holdout`) on the `holdout` leads, and
    judge it: both partitions scored in the served model's scaled space (`segmentation.gate`).

    Examples:
        >>> from segmentation.synthetic import generate_leads
        >>> old = LeadSegmenter(n_clusters=5).fit(generate_leads(2000, random_state=1).X)
        >>> train, holdout = generate_leads(2000, random_state=2).X, generate_leads(500, random_state=3).X
        >>> served = Served(old, np.array([4, 0, 1, 2, 3]), {}, np.full(5, 0.2), 4).scored(holdout)
        >>> outcome = succeed(served, LeadSegmenter(n_clusters=5).fit(train), train, holdout, tolerances=Tolerances())
        >>> sorted(outcome.lineage.ids), outcome.kept, outcome.moves.unexplained < 0.05, outcome.verdict.promote
        ([0, 1, 2, 3, 4], 5, True, True)
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
    before = served.scores if served.scores is not None else _scores(served, holdout, random_state)
    moved = moves(overlap, lineage, served.ids)
    ids = np.array(lineage.ids)[overlap.candidate_index]
    scores = score_partition(served.model.scale(holdout), ids, random_state=random_state)
    verdict = judge(scores, before, moved, tolerances, doubtful_splits=doubts)
    return Succession(candidate, overlap, lineage, moved, doubts, verdict)


def _scores(served: Served, holdout: np.ndarray, random_state: int) -> GateScores:
    ids = served.ids[served.model.predict(holdout)]
    return score_partition(served.model.scale(holdout), ids, random_state=random_state)


def alternatives(chosen: LeadSegmenter, train: np.ndarray, *, around: int | None = None) -> list[LeadSegmenter]:
    """`chosen` (fitted on `train` with K chosen) and the same segmenter fitted on `train` with each other K that
    passes the K-choice guards (`segmentation.selection.eligible`, in its order), then with `around` - 1, `around`
    and `around` + 1 (the served K and its neighbours: the K that can keep every served segment, lose one or make
    room for one new; resample stability on a sample of a few thousand leads can miss them by a hair). Those three
    are fitted with `AROUND_SEEDS` seeds and the lowest inertia kept: a small group is easily missed by one fit.

    Examples:
        >>> from segmentation.synthetic import generate_leads
        >>> X = generate_leads(800, random_state=4).X
        >>> [m.n_clusters_ for m in alternatives(LeadSegmenter(max_k=5).fit(X), X, around=3)]
        [5, 4, 2, 3]
    """
    if chosen.selection_ is None:
        return [chosen]
    ks = [s.k for s in eligible(chosen.selection_.scores)]
    near = [] if around is None else [k for k in (around - 1, around, around + 1) if 2 <= k <= chosen.max_k]
    ks = [k for n, k in enumerate(ks + near) if k != chosen.n_clusters_ and k not in (ks + near)[:n] and k < len(train)]

    def fit(k: int, seed: int) -> LeadSegmenter:
        return LeadSegmenter(
            n_clusters=k,
            features=chosen.features,
            log_features=chosen.log_features,
            pca=chosen.pca,
            algorithm=chosen.algorithm,
            random_state=seed,
        ).fit(train)

    seeds = [chosen.random_state + n for n in range(AROUND_SEEDS)]
    return [chosen] + [
        min((fit(k, seed) for seed in seeds), key=lambda m: m.inertia_) if k in near else fit(k, chosen.random_state)
        for k in ks
    ]


def settled(option: Succession) -> bool:
    """Whether no other K can be preferred to `option` (`prefer_identity` ranks it first whatever the others): it
    splits nothing doubtfully, moves at most `IDENTITY_SLACK` unexplained, and the gate promotes it. A refit whose
    K-choice's pick is settled fits no other K."""
    return not option.doubts and option.moves.unexplained <= IDENTITY_SLACK and option.verdict.promote


def prefer_identity(options: Sequence[Succession], moved_share: float) -> tuple[Succession, str | None]:
    """The option that keeps the served segments best, and why, if it is not the first (the K-choice's own pick).

    Options are taken in the K-choice's order (sharpest distortion jump first). Preferred are those with no split
    that bootstrap refits do not reproduce and at most `IDENTITY_SLACK` of held-out leads moved unexplained; among
    them, one the gate promotes. Failing that, the same with unexplained moves within `moved_share` (the gate's
    tolerance); failing that, the fewest unexplained moves.

    Examples:
        >>> from types import SimpleNamespace as Option
        >>> first = Option(doubts=("cut",), moves=Moves(0.2, 0.0, 0.2), kept=4, model=Option(n_clusters_=6),
        ...                verdict=Option(promote=False, reasons=("cut",)))
        >>> second = Option(doubts=(), moves=Moves(0.1, 0.1, 0.0), kept=4, model=Option(n_clusters_=5),
        ...                 verdict=Option(promote=True, reasons=()))
        >>> best, why = prefer_identity([first, second], 0.3)
        >>> best.model.n_clusters_, why[:44]
        (5, 'K=5 keeps the served segments best: K=6, the')
    """

    def rank(i: int) -> tuple[bool, bool, bool, float, int]:
        option = options[i]
        unexplained = option.moves.unexplained
        fails = bool(option.doubts) or unexplained > moved_share
        slack = fails or unexplained > IDENTITY_SLACK
        return fails, slack, not option.verdict.promote, unexplained if fails else 0.0, i

    ranked = sorted(range(len(options)), key=rank)
    best, first = options[ranked[0]], options[0]
    if ranked[0] == 0:
        return best, None
    if first.doubts:
        problem = first.doubts[0]
    elif first.moves.unexplained > IDENTITY_SLACK:
        problem = f"moves {first.moves.unexplained:.1%} of held-out leads unexplained"
    else:
        problem = f"would be refused: {first.verdict.reasons[0] if first.verdict.reasons else 'ranked lower'}"
    return best, (
        f"K={best.model.n_clusters_} keeps the served segments best: K={first.model.n_clusters_}, the sharpest "
        f"distortion jump among the K that pass every guard, {problem}; K={best.model.n_clusters_} keeps {best.kept} "
        f"served segments and moves {best.moves.unexplained:.1%} of held-out leads unexplained."
    )
