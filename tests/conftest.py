"""Shared fixtures: seeded synthetic leads and fitted models, each built once per test session."""

import os

# scikit-learn's OpenMP threads spin while they wait; on a busy two-core machine that makes every
# KMeans fit about twenty times slower. Must be set before scikit-learn is first imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from models.snapshot import ModelSnapshot  # noqa: E402
from models.strategies import StrategyConfig  # noqa: E402
from models.training import build_snapshot  # noqa: E402
from segmentation.segmenter import LeadSegmenter  # noqa: E402
from segmentation.synthetic import SyntheticLeads, generate_leads  # noqa: E402

# No example database in the work tree; tests choose their own example counts.
settings.register_profile("unit", database=None, deadline=None)
settings.load_profile("unit")

CREATED_AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def snapshot_of(
    model: LeadSegmenter,
    X: np.ndarray,
    *,
    config: StrategyConfig | None = None,
    version: int = 1,
    created_at: datetime = CREATED_AT,
) -> ModelSnapshot:
    """The model artifact for a fitted segmenter, as `segmenter fit` builds it, with a fixed creation time."""
    return build_snapshot(model, X, config=config or StrategyConfig(), version=version, created_at=created_at)


@pytest.fixture(scope="session")
def make_snapshot() -> Callable[..., ModelSnapshot]:
    """`snapshot_of(model, X, *, config=None, version=1, created_at=CREATED_AT)`."""
    return snapshot_of


@pytest.fixture(scope="session")
def leads_5000() -> SyntheticLeads:
    return generate_leads(5000, random_state=0)


@pytest.fixture(scope="session")
def fitted_5000(leads_5000: SyntheticLeads) -> LeadSegmenter:
    """K chosen by the product's own criteria on the tutorial's 5,000 leads."""
    return LeadSegmenter(random_state=0).fit(leads_5000.X)


@pytest.fixture(scope="session")
def leads_800() -> SyntheticLeads:
    return generate_leads(800, random_state=11)


@pytest.fixture(scope="session")
def fitted_800(leads_800: SyntheticLeads) -> LeadSegmenter:
    """A quick fixed-K model for tests that need any fitted segmenter."""
    return LeadSegmenter(n_clusters=5, random_state=0).fit(leads_800.X)
