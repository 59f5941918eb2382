"""strata.serving.forest: all trees walked at once give sklearn's raw scores and probabilities bit for bit,
with missing values, categorical splits, unknown and negative categories, binary and multiclass models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sklearn
from conftest_ml import make_table
from sklearn.ensemble import HistGradientBoostingClassifier
from test_serve_fast import COLUMNS, with_nulls

from strata.model import features, pipeline
from strata.serving import fast, forest


def sklearn_raw(model: HistGradientBoostingClassifier, X: np.ndarray) -> np.ndarray:
    """sklearn's own raw scores of already preprocessed input (``_raw_predict`` after ``_preprocess_X``)."""
    raw = np.zeros((len(X), model.n_trees_per_iteration_), order="F") + model._baseline_prediction
    model._predict_iterations(X, model._predictors, raw, False, 1)
    return raw


def data(rows: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Five numeric features with NaNs and one categorical (codes 0..5) that matters."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 6))
    X[:, 0] = rng.integers(0, 6, rows)
    y = (X[:, 1] + (X[:, 0] % 3 == 1) * 1.5 + rng.normal(scale=0.5, size=rows) > 0.5).astype(int)
    if classes > 2:
        y += (X[:, 2] > 1).astype(int)
    X[rng.random(X.shape) < 0.1] = np.nan
    return X, y


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("missing", ["from_data", "none_in_fit"])
def test_forest_gives_sklearns_scores_bit_for_bit(classes: int, missing: str) -> None:
    X, y = data(3000, classes, seed=classes)
    if missing == "none_in_fit":  # no NaN seen in fit: sklearn sends NaN where most samples went
        X = np.nan_to_num(X, nan=0.0)
    model = HistGradientBoostingClassifier(
        categorical_features=[0], max_iter=40, max_leaf_nodes=15, random_state=0
    ).fit(X, y)
    built = forest.build(model)
    assert built is not None and built.has_categorical
    new, _ = data(500, classes, seed=9)
    new[::7, 0] = 9.0  # a category unseen in fit
    new[::11, 0] = -1.0  # negative: treated as missing
    new[::13, 3] = np.inf
    new[::17, 4] = -np.inf
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for size in (0, 1, 2, 7, 64, 500):
            got = built.raw(new[:size])
            assert got.tobytes() == sklearn_raw(model, new[:size]).tobytes(), size
        assert built.predict_proba(new).tobytes() == model.predict_proba(new).tobytes()


def test_a_model_without_categorical_features_and_one_of_another_kind() -> None:
    X, y = data(1000, 3, seed=1)
    model = HistGradientBoostingClassifier(max_iter=15, random_state=0).fit(X, y)
    built = forest.build(model)
    assert built is not None and not built.has_categorical
    assert built.predict_proba(X[:30]).tobytes() == model.predict_proba(X[:30]).tobytes()
    assert forest.build(sklearn.linear_model.LogisticRegression().fit(np.nan_to_num(X), y)) is None
    assert forest.build(HistGradientBoostingClassifier()) is None  # not fitted


def test_scoring_a_few_rows_walks_the_forest_and_many_rows_use_sklearn(monkeypatch: Any) -> None:
    table = with_nulls(make_table(300, seed=3), 11)
    inputs = [(name, ctype) for name, ctype, _ in COLUMNS]
    model = pipeline.build_pipeline(COLUMNS, "hist_gradient_boosting", {"max_iter": 20}, seed=5)
    model.fit(features.to_frame(table, inputs, "t"), table["label"].to_pylist())
    compiled = fast.compile_model(model)
    assert compiled is not None and compiled.forest is not None
    new = with_nulls(make_table(forest.ROWS + 1, seed=9), 7)
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        expected = features.predict(model, new, "t")[0]
        walked: list[int] = []
        walk = forest.Forest.raw
        monkeypatch.setattr(forest.Forest, "raw", lambda self, X: walked.append(len(X)) or walk(self, X))
        few = fast.predict(compiled, new.slice(0, forest.ROWS), "t")[0]
        many = fast.predict(compiled, new, "t")[0]
    assert walked == [forest.ROWS]
    assert few.tobytes() == expected[: forest.ROWS].tobytes() and many.tobytes() == expected.tobytes()
