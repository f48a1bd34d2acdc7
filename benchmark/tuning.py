"""Hyper-parameter selection that only ever sees training data.

`TunedClassifier` wraps an estimator and a grid. Given the protocol's validation set (`X_val`,
FER2013's PublicTest) it scores every candidate there; otherwise it runs an inner k-fold over the
training part, grouped by subject when subject ids (`groups`) are given, so no person is in both an
inner training and an inner validation fold. The winner is refitted on the whole training part.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GridSearchCV, PredefinedSplit, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from core import validation as check
from core.errors import ConfigError
from core.selection import inner_splitter


def _estimator_has(method: str):
    """For `available_if`: the fitted estimator (or, before fitting, the configured one) has `method`."""
    return lambda self: hasattr(getattr(self, "estimator_", self.estimator), method)


class TunedClassifier(ClassifierMixin, BaseEstimator):
    """Grid search on training data (or the validation set), then refit on all training data.

    param_grid: {param: [values]} in the estimator's names (e.g. `svm__C`); empty = fixed parameters.
    inner_k: inner folds when there is no validation set.
    tune_samples: search on a stratified subsample of this many training images (None = all),
        which keeps an RBF grid on FER2013 within minutes; the refit uses every training image.
    """

    def __init__(
        self,
        estimator,
        param_grid: dict | None = None,
        inner_k: int = 3,
        tune_samples: int | None = None,
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.estimator = estimator
        self.param_grid = param_grid
        self.inner_k = inner_k
        self.tune_samples = tune_samples
        self.n_jobs = n_jobs
        self.random_state = random_state

    def check_params(self) -> None:
        if self.param_grid is not None and not isinstance(self.param_grid, dict):
            raise ConfigError(
                f"must be a mapping of parameter -> list of values, got {self.param_grid!r}", "param_grid"
            )
        check.number("inner_k", self.inner_k, 2, integer=True)
        check.number("tune_samples", self.tune_samples, 2, integer=True, optional=True)

    def fit(self, X, y, groups=None, X_val=None, y_val=None):
        self.check_params()
        y = np.asarray(y)
        self.best_params_, selection = {}, {"selection": "none (fixed parameters)"}
        if self.param_grid:
            self.best_params_, selection = self._search(X, y, groups, X_val, y_val)
        self.estimator_ = clone(self.estimator).set_params(**self.best_params_).fit(X, y)
        self.classes_ = self.estimator_.classes_
        self.fit_info_ = {**selection, "best_params": self.best_params_, **_fit_info_of_steps(self.estimator_)}
        return self

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)

    def _search(self, X, y, groups, X_val, y_val) -> tuple[dict, dict]:
        idx = self._tuning_subset(y)
        if X_val is not None:
            data = np.concatenate([X[idx], X_val]), np.concatenate([y[idx], y_val])
            cv = PredefinedSplit(np.r_[np.full(len(idx), -1), np.zeros(len(y_val), int)])
            how = f"validation set ({len(y_val)} images)"
        else:
            data = X[idx], y[idx]
            cv, how = self._inner_cv(y[idx], None if groups is None else np.asarray(groups)[idx])
        search = GridSearchCV(
            clone(self.estimator), self.param_grid, cv=cv, refit=False, n_jobs=self.n_jobs, error_score="raise"
        ).fit(*data)
        best = {k: v.item() if isinstance(v, np.generic) else v for k, v in search.best_params_.items()}
        return best, {"selection": how, "selection_score": float(search.best_score_), "tuned_on": int(len(idx))}

    def _inner_cv(self, y, groups) -> tuple[list, str]:
        cv, k = inner_splitter(self.inner_k, groups, self.random_state)
        if k < 2:
            raise ConfigError("inner cross-validation by subject needs at least 2 subjects in the training part")
        how = f"inner stratified {k}-fold" if groups is None else f"inner {k}-fold grouped by subject"
        return list(cv.split(y, y, groups)), how

    def _tuning_subset(self, y) -> np.ndarray:
        """All training indices, or a stratified subsample of `tune_samples` of them."""
        if self.tune_samples is None or self.tune_samples >= len(y):
            return np.arange(len(y))
        idx, _ = train_test_split(
            np.arange(len(y)), train_size=int(self.tune_samples), stratify=y, random_state=self.random_state
        )
        return np.sort(idx)


def _fit_info_of_steps(estimator) -> dict:
    """`fit_info_` of the estimator or of its pipeline steps (e.g. which SVM formulation was used)."""
    steps = [s for _, s in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    info = {}
    for step in steps:
        info.update(getattr(step, "fit_info_", None) or {})
    return info
