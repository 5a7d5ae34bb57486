"""The refit's pure parts: control messages, and refitting a served model; and where the fit runs."""

import asyncio
import multiprocessing.pool
import os

import pytest

from models.control import parse_command
from models.settings import Settings
from models.strategies import StrategyConfig
from models.training import fit_model, refit_model
from segmentation.synthetic import generate_leads


@pytest.mark.parametrize(
    ("value", "problem"),
    [(b"not json", "not a control message"), (b'{"command": "drop"}', "unknown command"), (None, "not a control")],
)
def test_bad_control_messages_are_refused_with_a_reason(value: bytes | None, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_command(value)


def test_a_refit_command_is_understood() -> None:
    assert parse_command(b'{"command": "refit"}').command == "refit"


def test_a_refit_keeps_k_ids_strategies_and_moves_the_version_forward() -> None:
    leads = generate_leads(4000, random_state=0)
    served = fit_model(leads.X[:2000], config=StrategyConfig(), k=5, version=10)[1]
    custom = served.segments[0].strategy.model_copy(update={"channel": "Custom channel"})
    served = served.model_copy(
        update={"segments": [served.segments[0].model_copy(update={"strategy": custom}), *served.segments[1:]]}
    )
    refitted, _ = refit_model(leads.X[2000:], served, version=11, k=5)
    assert refitted.version == 11 and len(refitted.segments) == 5
    assert sorted(refitted.segment_ids) == sorted(served.segment_ids)
    by_id = {s.id: s for s in refitted.segments}
    for old in served.segments:  # the same planted segments: each keeps its id and name
        assert by_id[old.id].name == old.name
    assert by_id[served.segments[0].id].strategy.channel == "Custom channel"


def test_the_fit_runs_in_a_niced_child_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Routing never waits on a fit: it runs in another process, at the lowest priority. (A fit in a thread of the
    worker no longer shows in the slow-refit fault test's latency, so this is checked here, by structure.)"""
    from streams.model_plane import refit

    real, pools = refit._niced_pool, []

    def recorded() -> multiprocessing.pool.Pool:
        pool = real()
        pools.append((pool.apply(os.getpid), pool.apply(os.nice, (0,))))
        return pool

    monkeypatch.setattr(refit, "_niced_pool", recorded)
    leads = generate_leads(3000, random_state=1)
    served = fit_model(leads.X[:1500], config=StrategyConfig(), k=4, version=1)[1]
    candidate = asyncio.run(refit._fit_elsewhere(leads.X[1500:], served, 2, 4, Settings()))
    assert candidate.version == 2
    [(child, niceness)] = pools
    assert child != os.getpid() and niceness == 19
