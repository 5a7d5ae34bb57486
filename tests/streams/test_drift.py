"""The drift monitor on its own: fed batches of leads, judged on a clock the test moves. No drift on the fit
population; drift on a shifted one, a refit asked for by the leader only, with its reasons, at most once per
interval; the window by count and by time; a swap judged against the new model's figures; each change of state
logged once."""

import json
import logging
from datetime import UTC, datetime

import numpy as np
import pytest

from models.control import LastRefit
from models.settings import Settings
from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from streams import metrics
from streams.model_plane.drift import CALM, DriftMonitor
from streams.model_plane.serving import ServingModel
from tests.clock import Clock
from tests.populations import with_a_sixth_group

FIT_POPULATION = generate_leads(3000, random_state=0).X


class Refits:
    """What the refitter is asked: the causes, and whether a refit runs."""

    def __init__(self) -> None:
        self.running = False
        self.causes: list[str] = []
        self.last: LastRefit | None = None

    def request(self, cause: str, request_id: str | None = None) -> bool:
        if self.running:
            return False
        self.causes.append(cause)
        return True


@pytest.fixture(scope="module")
def served() -> ServingModel:
    return ServingModel(fit_model(FIT_POPULATION, config=StrategyConfig(), k=5, version=1)[1])


@pytest.fixture(scope="module")
def refitted() -> ServingModel:
    """A model fitted on the shifted population."""
    X = with_a_sixth_group(6000, seed=3)
    return ServingModel(fit_model(X, config=StrategyConfig(), k=6, version=2)[1])


class Rig:
    def __init__(self, model: ServingModel | None, **settings: float) -> None:
        values = {"drift_window_leads": 4000, "drift_min_leads": 1000, "drift_rows_per_batch": 64} | settings
        self.settings = Settings.model_validate(values)
        self.model = model
        self.refits = Refits()
        self.clock = Clock()
        self.monitor = DriftMonitor(self.settings, lambda: self.model, self.refits, self.clock)

    def feed(self, X: np.ndarray, batch: int = 64) -> None:
        for start in range(0, len(X), batch):
            self.monitor.observe(X[start : start + batch])


def shifted(n: int, seed: int = 5) -> np.ndarray:
    """The five groups and a sixth kind of lead, in random order, as a stream would bring them."""
    X = with_a_sixth_group(n, seed=seed)
    return X[np.random.default_rng(seed).permutation(len(X))]


def test_the_fit_population_is_steady_and_asks_for_nothing(served: ServingModel) -> None:
    rig = Rig(served)
    rig.feed(generate_leads(3000, random_state=11).X)
    report = rig.monitor.check(leader=True)
    assert (report.state, report.leads, report.model_version, report.reasons) == ("steady", 3000, 1, [])
    assert report.score is not None and report.score < 0.5
    assert [s.segment_id for s in report.segments] == [0, 1, 2, 3, 4]
    assert sum(s.leads for s in report.segments) == 3000
    assert rig.refits.causes == []


def test_a_shifted_population_makes_the_leader_ask_for_a_refit_with_the_reasons(served: ServingModel) -> None:
    rig = Rig(served, drift_refit_min_seconds=600)
    rig.feed(shifted(4000))
    follower = rig.monitor.check(leader=False)
    assert follower.state == "drifting" and rig.refits.causes == []  # only the leader asks
    report = rig.monitor.check(leader=True)
    assert report.state == "drifting" and report.score is not None and report.score >= 1
    assert metrics.value(metrics.DRIFT_SCORE) == report.score
    assert rig.refits.causes == ["drift: " + "; ".join(report.reasons)]
    assert "of leads beyond every radius (fit" in rig.refits.causes[0]
    assert report.last_refit_request is not None and report.last_refit_request.timestamp() == rig.clock.now

    rig.clock.now += 599
    rig.monitor.check(leader=True)
    assert len(rig.refits.causes) == 1  # rate-limited
    rig.clock.now += 1
    rig.refits.running = True
    rig.monitor.check(leader=True)
    assert len(rig.refits.causes) == 1  # a refit runs: nothing asked, the interval not spent
    rig.refits.running = False
    rig.monitor.check(leader=True)
    assert len(rig.refits.causes) == 2


def test_the_window_keeps_the_latest_leads_by_count_and_by_time(served: ServingModel) -> None:
    rig = Rig(served, drift_window_seconds=60)
    rig.feed(shifted(4000))
    assert rig.monitor.check(leader=False).state == "drifting"
    rig.feed(generate_leads(4000, random_state=12).X)  # the shifted leads pushed out of the 4000
    assert rig.monitor.check(leader=False).state == "steady"
    rig.clock.now += 61
    report = rig.monitor.check(leader=False)
    assert (report.state, report.leads) == ("filling", 0)


def test_each_batch_gives_at_most_its_share_of_rows_evenly_spaced(served: ServingModel) -> None:
    rig = Rig(served, drift_rows_per_batch=10)
    rig.feed(generate_leads(10_000, random_state=13).X, batch=1000)
    assert rig.monitor.check(leader=False).leads == 100
    rig.feed(generate_leads(10, random_state=13).X, batch=10)
    assert rig.monitor.check(leader=False).leads == 110


def test_a_swap_judges_the_same_leads_against_the_new_models_figures(
    served: ServingModel, refitted: ServingModel
) -> None:
    rig = Rig(served)
    rig.feed(shifted(4000))
    assert rig.monitor.check(leader=True).state == "drifting"
    rig.model = refitted
    report = rig.monitor.check(leader=True)
    assert (report.state, report.model_version, report.reasons) == ("steady", 2, [])
    assert len(report.segments) == 6 and len(rig.refits.causes) == 1


def test_a_refit_refused_while_drifting_makes_the_model_stale_said_once_until_a_model_is_promoted(
    served: ServingModel, refitted: ServingModel, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(served, drift_refit_min_seconds=600)
    caplog.set_level(logging.INFO, logger="streams.model_plane.drift")
    rig.feed(shifted(4000))
    assert rig.monitor.check(leader=True).state == "drifting" and len(rig.refits.causes) == 1
    rig.clock.now += 30  # the refit asked for ends, refused
    why = ["it would move 40% of leads to another segment (at most 30%)"]
    at = datetime.fromtimestamp(rig.clock.now, UTC)
    rig.refits.last = LastRefit(cause=rig.refits.causes[0], outcome="rejected", at=at, version=1, reasons=why)
    for _ in range(3):
        report = rig.monitor.check(leader=True)
        assert (report.state, report.refused_reasons, report.refused_at) == ("drifting_refused", why, at)
        assert metrics.value(metrics.MODEL_STALE) == 1
    rig.clock.now += 600
    rig.monitor.check(leader=True)
    assert len(rig.refits.causes) == 2  # stale: the leader still asks again, once per interval
    stale = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(stale) == 1 and why[0] in stale[0] and "segmenter pin" in stale[0]

    rig.model = refitted  # a refit promoted: the new model is judged afresh
    rig.refits.last = rig.refits.last.model_copy(update={"outcome": "promoted", "version": 2, "reasons": []})
    assert rig.monitor.check(leader=True).state != "drifting_refused"
    assert metrics.value(metrics.MODEL_STALE) == 0


def test_a_refit_refused_before_the_drift_began_says_nothing_of_the_drift(served: ServingModel) -> None:
    rig = Rig(served)
    at = datetime.fromtimestamp(rig.clock.now - 60, UTC)
    rig.refits.last = LastRefit(cause="drift: earlier", outcome="rejected", at=at, version=1, reasons=["r"])
    rig.feed(shifted(4000))
    assert rig.monitor.check(leader=False).state == "drifting"
    rig.clock.now += 60
    assert rig.monitor.check(leader=False).state == "drifting"


def test_each_change_of_state_is_logged_once(served: ServingModel, caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(served, drift_refit_min_seconds=0)
    caplog.set_level(logging.INFO, logger="streams.model_plane.drift")
    rig.feed(generate_leads(2000, random_state=14).X)
    for _ in range(3):
        rig.monitor.check(leader=True)
    rig.feed(shifted(4000))
    for _ in range(3):
        rig.monitor.check(leader=True)
    rig.feed(generate_leads(4000, random_state=15).X)
    for _ in range(3):
        rig.monitor.check(leader=True)
    said = [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records]
    assert said == [("INFO", "drift: steady"), ("WARNING", "drift: drifting"), ("INFO", "drift: steady")]
    assert len(rig.refits.causes) == 3  # no interval: the leader asked on every drifting check


def test_a_model_without_figures_is_said_once_and_never_judged(
    served: ServingModel, caplog: pytest.LogCaptureFixture
) -> None:
    older = json.loads(served.snapshot.model_dump_json())
    del older["beyond_radius_share"]
    for segment in older["segments"]:
        del segment["mean_distance"], segment["outlier_share"]
    rig = Rig(ServingModel(ModelSnapshot.from_json(json.dumps(older))))
    rig.feed(shifted(4000))
    for _ in range(3):
        report = rig.monitor.check(leader=True)
        assert (report.state, report.model_version, report.segments) == ("no_baseline", 1, [])
    assert sum("has no fit-time figures" in r.getMessage() for r in caplog.records) == 1
    assert rig.refits.causes == []


def test_no_model_and_too_few_leads_are_states_too(served: ServingModel) -> None:
    rig = Rig(None)
    rig.feed(generate_leads(999, random_state=16).X)
    assert rig.monitor.check(leader=True).state == "no_model"
    rig.model = served
    report = rig.monitor.check(leader=True)
    assert (report.state, report.leads, report.score) == ("filling", 999, None)
    assert rig.refits.causes == []


def test_once_drifting_the_state_holds_until_the_score_is_calm_and_a_swap_drops_that(served: ServingModel) -> None:
    shifted_rows, fit_rows = shifted(4000), generate_leads(4000, random_state=17).X

    def window(k: int) -> np.ndarray:  # the latest 4000 leads, k of them shifted
        return np.vstack([fit_rows[: 4000 - k], shifted_rows[:k]])

    def score(k: int) -> float:
        fresh = Rig(served)
        fresh.feed(window(k))
        found = fresh.monitor.report().score
        assert found is not None
        return found

    k = next(k for k in range(0, 4000, 50) if CALM <= score(k) < 1)  # between calm and drift
    rig = Rig(served)
    rig.feed(shifted_rows)
    assert rig.monitor.check(leader=False).state == "drifting"
    rig.feed(window(k))
    assert rig.monitor.check(leader=False).state == "drifting"  # not calm yet
    rig.model = ServingModel(served.snapshot.model_copy(update={"version": 3}))
    assert rig.monitor.check(leader=False).state == "steady"  # another model: judged afresh
