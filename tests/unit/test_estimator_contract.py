"""One contract, every clustering estimator: scikit-learn manners (see STYLE.md, "The core's API")."""

import inspect
from typing import Any

import numpy as np
import pytest

from segmentation.exceptions import NotFittedError, SegmenterError
from segmentation.preprocessing import LeadScaler
from segmentation.segmenter import LeadSegmenter
from segmentation.synthetic import generate_leads

ESTIMATORS: dict[str, tuple[type, dict[str, Any], tuple[str, ...]]] = {
    # name: (class, parameters, methods that need a fitted estimator)
    "LeadScaler": (LeadScaler, {}, ("transform",)),
    "LeadSegmenter-fixed-k": (LeadSegmenter, {"n_clusters": 4}, ("scale", "transform", "predict", "assign")),
    "LeadSegmenter-chosen-k": (LeadSegmenter, {"max_k": 4}, ("scale", "transform", "predict", "assign")),
    "LeadSegmenter-pca": (LeadSegmenter, {"n_clusters": 4, "pca": 0.9}, ("scale", "transform", "predict", "assign")),
    "LeadSegmenter-pca-chosen-k": (LeadSegmenter, {"max_k": 4, "pca": 3}, ("scale", "transform", "predict", "assign")),
    "LeadSegmenter-minibatch": (
        LeadSegmenter,
        {"n_clusters": 4, "algorithm": "minibatch"},
        ("scale", "transform", "predict", "assign"),
    ),
}


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return generate_leads(300, random_state=6).X


def public_params(cls: type) -> dict[str, inspect.Parameter]:
    return {name: p for name, p in inspect.signature(cls.__init__).parameters.items() if name != "self"}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_estimator_contract(name: str, X: np.ndarray) -> None:
    cls, params, fitted_methods = ESTIMATORS[name]

    # __init__ takes keyword-only parameters, each with a default, and only stores them.
    signature = public_params(cls)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in signature.values()), name
    assert all(p.default is not inspect.Parameter.empty for p in signature.values()), name
    positional = list(params.values()) or [X]
    with pytest.raises(TypeError, match="positional argument"):
        cls(*positional)
    estimator = cls(**params)
    assert set(vars(estimator)) == set(signature)
    for key, value in params.items():
        assert getattr(estimator, key) == value
    assert not [attr for attr in vars(estimator) if attr.endswith("_")]

    # Using it before fit raises NotFittedError, which is also a ValueError and a SegmenterError.
    for method in fitted_methods:
        with pytest.raises(NotFittedError, match=f"^{cls.__name__} is not fitted yet: call fit first$") as caught:
            getattr(estimator, method)(X)
        assert isinstance(caught.value, ValueError)
        assert isinstance(caught.value, SegmenterError)

    # fit returns self, leaves the parameters alone, and everything it learns ends in "_".
    before = dict(vars(estimator))
    assert estimator.fit(X) is estimator
    learned = set(vars(estimator)) - set(before)
    assert learned, name
    assert all(attr.endswith("_") and not attr.startswith("_") for attr in learned), sorted(learned)
    assert {key: vars(estimator)[key] for key in before} == before

    # Once fitted, the same methods work, and a second fit on the same data learns the same state.
    for method in fitted_methods:
        output = getattr(estimator, method)(X)
        assert output is not None
    again = cls(**params).fit(X)
    for attr in learned:
        assert_same(getattr(estimator, attr), getattr(again, attr), attr)


def assert_same(a: Any, b: Any, attr: str) -> None:
    if isinstance(a, np.ndarray):
        assert np.array_equal(a, b), attr
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        assert type(a) is type(b), attr
        for key in vars(a):
            assert_same(vars(a)[key], vars(b)[key], f"{attr}.{key}")
    elif hasattr(a, "__dataclass_fields__"):
        for key in a.__dataclass_fields__:
            assert_same(getattr(a, key), getattr(b, key), f"{attr}.{key}")
    else:
        assert a == b, attr


def test_every_clustering_estimator_is_covered() -> None:
    classes = {cls for cls, _, _ in ESTIMATORS.values()}
    assert classes == {LeadScaler, LeadSegmenter}
