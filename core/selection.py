"""The rules of model selection that every method follows, whatever its family.

A method may select hyper-parameters, epochs or an average of weights, but only on training data:
an inner split of its fold's training part (grouped by subject where subjects are known, so no
person is in both halves), or the protocol's validation set (FER2013's PublicTest). It is handed
those extras only when its `fit` names them.
"""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

#: what a fit may receive besides X and y, when its signature names it
FIT_EXTRAS = ("groups", "X_val", "y_val", "y_soft")


def fit_kwargs(estimator, available: dict) -> dict:
    """The entries of `available` (groups, X_val, y_val) that `estimator.fit` names in its signature."""
    params = inspect.signature(estimator.fit).parameters
    return {k: v for k, v in available.items() if k in params and v is not None}


def inner_splitter(k: int, groups, seed: int):
    """(splitter, k) for the inner folds of a fold's training part, where model selection happens:
    grouped by subject when `groups` is given, else stratified by class. k is capped by the number
    of subjects; below 2 there is no splitter (None) and the caller says what that means."""
    if groups is None:
        return StratifiedKFold(k, shuffle=True, random_state=seed), k
    k = min(k, len(np.unique(groups)))
    return (StratifiedGroupKFold(k, shuffle=True, random_state=seed) if k >= 2 else None), k
