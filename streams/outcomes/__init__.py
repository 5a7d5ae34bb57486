"""Outcomes in and their attribution: each routed lead's first exposure recorded beside its previous segment (the
hot path's last step, through `streams.routing.Exposures`), the outcomes topic validated and counted against those
exposures, and the tallies per model version × segment × arm in Redis that the impact report, the `status` reply
and `/metrics` read. Imports `streams.routing` (dead letters, delivery, validation), `streams.clients`, `models`,
`segmentation` and the shared `streams.exceptions` and `streams.metrics`; never `streams.operations`."""

from streams.outcomes.attribution import Attribution, Outcome, Tallies, cell_key, tallies_of
from streams.outcomes.exposures import ExposureRecorder
from streams.outcomes.intake import OutcomeIntake
from streams.outcomes.summary import close_rates, summary_of

__all__ = [
    "Attribution",
    "ExposureRecorder",
    "Outcome",
    "OutcomeIntake",
    "Tallies",
    "cell_key",
    "close_rates",
    "summary_of",
    "tallies_of",
]
