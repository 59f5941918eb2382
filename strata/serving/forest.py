"""A fitted HistGradientBoostingClassifier's trees walked all at once with numpy, for a few rows at a time.

sklearn predicts a HistGradientBoosting model one tree at a time: a Python call into Cython per tree and
class, 327 of them for the default model (109 rounds x 3 classes), each costing ~6 us whatever the number of
rows. That loop is most of the model's time on a single event. :class:`Forest` flattens every tree into one
node table and moves the rows of a small batch down all trees together, one numpy step per tree level
(leaves point to themselves, so a walk of the deepest tree's depth ends every walk on its leaf).

The numbers are sklearn's bit for bit (tests/unit/test_serve_forest.py: binary and multiclass, categorical
splits, missing values seen in fit or not, unknown and negative categories, infinities;
tests/e2e/test_serving_e2e.py: the default pipeline's model on its whole test split):

- a node sends a row as ``_predict_one_from_raw_data`` does: NaN follows ``missing_go_to_left``; on a
  categorical split a negative value is missing, a code in the split's left bitset goes left, another known
  category right, an unknown one as missing; a numeric split sends ``x <= threshold`` left;
- the raw score of class k is ``(0 + baseline[k]) + tree(0, k) + tree(1, k) + ...`` added in iteration
  order, as ``_raw_predict`` adds them (``np.add.accumulate`` adds sequentially, no pairwise sum);
- the probabilities come from the model's own loss (``_loss.predict_proba``) on those raw scores.

For many rows sklearn's compiled loop is faster (its per-call cost is spread out), so callers use the forest
up to :data:`ROWS` rows only. A model of any other kind builds no forest (:func:`build` returns None) and
keeps sklearn's path.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ROWS = 64  # at or below this many rows a forest walk beats sklearn's tree-by-tree loop (~100 rows here)
BITSET_WORDS = 8  # uint32 words per categorical bitset (256 categories), as sklearn stores them


@dataclasses.dataclass(frozen=True)
class Forest:
    """Every tree of a fitted model in one flat node table (tree t starts at ``roots[t]``), every split a
    numeric ``x <= threshold`` on a column of :meth:`columns` (the input widened so that no step needs a
    missing-value or categorical branch)."""

    roots: np.ndarray  # (trees,) int64: iteration-major, class-minor, as sklearn's _predictors
    column: np.ndarray  # (nodes,) int64: the column of columns(X) the node reads
    threshold: np.ndarray  # (nodes,) float64
    left: np.ndarray  # (nodes,) int64: left child; a leaf's is itself
    right: np.ndarray  # (nodes,) int64
    value: np.ndarray  # (nodes,) float64: a leaf's value
    order: np.ndarray  # (trees,) tree indices, deepest first
    moving: tuple[int, ...]  # step d moves the first moving[d] trees of that order (those deeper than d)
    split_feature: np.ndarray  # (splits,) int64: feature of each categorical split
    split_bits: np.ndarray  # (splits, 8) uint32: its left categories
    split_missing_left: np.ndarray  # (splits,) bool
    known_bits: np.ndarray  # (splits, 8) uint32: the known categories of its feature
    baseline: np.ndarray  # (classes,) float64
    classes: int  # trees per iteration
    loss: Any  # the model's loss object: predict_proba(raw)
    n_features: int

    @property
    def has_categorical(self) -> bool:
        return len(self.split_feature) > 0

    def columns(self, X: np.ndarray) -> np.ndarray:
        """(rows, 2 * features + categorical splits) float64: what the nodes read.

        - ``X``: a numeric split whose missing values go right reads it (NaN <= t is false: right);
        - ``X`` with NaN as -inf: a numeric split whose missing values go left reads that (-inf <= t holds
          for every threshold, and a real -inf goes left there too);
        - one column per categorical split: 0.0 where the row goes left, 1.0 where it goes right (threshold
          0.5), decided as sklearn decides it: NaN, a negative value and an unknown category go where the
          split sends missing values, a category in its left bitset left, another known one right.
        """
        import numpy as np

        n, width = X.shape[0], self.n_features
        out = np.empty((n, 2 * width + len(self.split_feature)))
        out[:, :width] = X
        out[:, width : 2 * width] = np.where(np.isnan(X), -np.inf, X)
        if self.has_categorical:
            x = X[:, self.split_feature]  # (rows, splits)
            missing = np.isnan(x) | (x < 0)
            # sklearn casts the value to uint8: the encoder's codes are 0 .. categories - 1 (at most 255)
            code = np.minimum(np.where(missing, 0, x), 255).astype(np.intp)
            word, bit = code // 32, (code % 32).astype(np.uint32)
            splits = np.arange(len(self.split_feature))
            in_left = (self.split_bits[splits, word] >> bit) & 1 == 1
            known = (self.known_bits[splits, word] >> bit) & 1 == 1
            missing |= ~in_left & ~known
            out[:, 2 * width :] = np.where(np.where(missing, self.split_missing_left, in_left), 0.0, 1.0)
        return out

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Raw scores (rows, classes) of ``X`` (rows, features) float64, the model's preprocessed input.

        Trees are walked deepest first (``order``): at step d only the trees deeper than d still move, a
        prefix of each row's walks. The leaf values are put back in sklearn's tree order before adding."""
        import numpy as np

        wide = self.columns(np.asarray(X, dtype=np.float64))
        n, trees = wide.shape[0], len(self.order)
        flat = wide.ravel()
        at = np.tile(self.roots[self.order], (n, 1))  # (rows, trees), deepest trees first
        base = (np.arange(n, dtype=np.int64) * wide.shape[1])[:, None]
        for moving in self.moving:  # trees still moving at each step
            now = at[:, :moving]
            read = np.take(self.column, now)
            if n > 1:
                read += base
            left = np.take(flat, read) <= np.take(self.threshold, now)
            at[:, :moving] = np.where(left, np.take(self.left, now), np.take(self.right, now))
        leaves = np.empty((n, trees))
        leaves[:, self.order] = np.take(self.value, at)
        by_iteration = leaves.reshape(n, trees // self.classes, self.classes)  # sklearn's order
        start = np.zeros((n, 1, self.classes)) + self.baseline  # 0 + baseline, as sklearn starts
        return np.add.accumulate(np.concatenate([start, by_iteration], axis=1), axis=1)[:, -1, :]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.loss.predict_proba(self.raw(X))


def build(estimator: Any) -> Forest | None:
    """The forest of a fitted HistGradientBoostingClassifier (not a Pipeline), or None for anything else."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    if not isinstance(estimator, HistGradientBoostingClassifier) or not hasattr(estimator, "_predictors"):
        return None
    classes = int(estimator.n_trees_per_iteration_)
    trees = [p for iteration in estimator._predictors for p in iteration]
    if not trees or any(len(iteration) != classes for iteration in estimator._predictors):
        return None
    width = int(estimator.n_features_in_)
    known, f_idx_map = estimator._bin_mapper.make_known_categories_bitsets()
    parts: dict[str, list[Any]] = {k: [] for k in ("column", "threshold", "left", "right", "value")}
    splits: dict[str, list[Any]] = {k: [] for k in ("feature", "bits", "missing_left", "known")}
    roots, offset = [], 0
    for tree in trees:
        nodes = tree.nodes
        own = np.arange(offset, offset + len(nodes), dtype=np.int64)
        leaf = nodes["is_leaf"].astype(bool)
        feature = nodes["feature_idx"].astype(np.int64)
        if ((feature < 0) | (feature >= width))[~leaf].any():
            return None
        missing_left = nodes["missing_go_to_left"].astype(bool)
        column = np.where(missing_left, feature + width, feature)
        threshold = nodes["num_threshold"].astype(np.float64)
        for i in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf):
            column[i], threshold[i] = 2 * width + len(splits["feature"]), 0.5
            splits["feature"].append(feature[i])
            splits["bits"].append(tree.raw_left_cat_bitsets[nodes["bitset_idx"][i]])
            splits["missing_left"].append(missing_left[i])
            splits["known"].append(known[f_idx_map[feature[i]]])
        parts["column"].append(np.where(leaf, 0, column))
        parts["threshold"].append(threshold)
        parts["left"].append(np.where(leaf, own, nodes["left"].astype(np.int64) + offset))
        parts["right"].append(np.where(leaf, own, nodes["right"].astype(np.int64) + offset))
        parts["value"].append(nodes["value"].astype(np.float64))
        roots.append(offset)
        offset += len(nodes)
    depths = np.array([int(tree.nodes["depth"].max()) for tree in trees])
    return Forest(
        roots=np.asarray(roots, np.int64),
        **{name: np.concatenate(arrays) for name, arrays in parts.items()},
        order=np.argsort(-depths, kind="stable"),
        moving=tuple(int((depths > d).sum()) for d in range(int(depths.max()))),
        split_feature=np.asarray(splits["feature"], np.int64),
        split_bits=np.asarray(splits["bits"], np.uint32).reshape(-1, BITSET_WORDS),
        split_missing_left=np.asarray(splits["missing_left"], bool),
        known_bits=np.asarray(splits["known"], np.uint32).reshape(-1, BITSET_WORDS),
        baseline=np.asarray(estimator._baseline_prediction, np.float64).reshape(-1),
        classes=classes,
        loss=estimator._loss,
        n_features=width,
    )
