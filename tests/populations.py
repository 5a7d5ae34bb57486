"""Lead populations that test what a refit makes of a changed population: noise, and a sixth group."""

import numpy as np

from segmentation.features import BOUNDS, FEATURES
from segmentation.synthetic import generate_leads

__all__ = ["noise", "with_a_sixth_group"]

_FEATURE = {name: i for i, name in enumerate(FEATURES)}


def noise(n: int, seed: int) -> np.ndarray:
    """Leads drawn uniformly within the range generated leads span, whole numbers where the feature needs them."""
    like = generate_leads(4000, random_state=seed).X
    X = np.random.default_rng(seed).uniform(like.min(axis=0), np.percentile(like, 99, axis=0), (n, len(FEATURES)))
    integers = [i for i, name in enumerate(FEATURES) if BOUNDS[name].integer]
    X[:, integers] = np.round(X[:, integers])
    return X


def with_a_sixth_group(n: int, seed: int) -> np.ndarray:
    """The five planted groups, and n/6 more SMB-like leads at enterprise scale in size, traffic and money."""
    base = generate_leads(n, random_state=seed)
    extra = generate_leads(n, random_state=seed + 1)
    sixth = extra.X[extra.true_segment == 1][: n // 6].copy()
    for name, factor in (("company_size", 400), ("revenue_potential", 200), ("website_traffic", 100)):
        sixth[:, _FEATURE[name]] *= factor
    sixth[:, _FEATURE["pricing_page_visits"]] *= 6
    return np.vstack([base.X, sixth])
