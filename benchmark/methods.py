"""Building methods from config, and the estimator every classical method is.

A classical method is features (a stateless transformer: LBP, Gabor, HOG, ...) followed by a
classifier (a Pipeline: scaler, PCA, SVM). `FeatureClassifier` computes the features once per
fold and chooses the classifier's hyper-parameters on training data only: an inner k-fold of the
training part (grouped by subject when the protocol has subjects), or the protocol's validation
set when it has one (FER2013's PublicTest). The test fold never takes part.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GridSearchCV, PredefinedSplit, StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from benchmark.errors import ConfigError


def pipeline(steps: dict) -> Pipeline:
    """`steps` is an ordered mapping name -> estimator (YAML keeps the order), so a config can
    override one step's parameter by name: `method.steps.svm.C=0.1`."""
    if not steps:
        raise ConfigError("a method pipeline needs at least one step")
    return Pipeline(list(steps.items()))


class FeatureClassifier(ClassifierMixin, BaseEstimator):
    """Features computed once, then a classifier tuned by grid search on training data only.

    param_grid: {param: [values]} in the classifier's own names (e.g. `svm__C`); empty = no tuning.
    inner_k: folds of the inner cross-validation (used when the protocol gives no validation set).
    tune_samples: tune on a stratified subsample of this many training images (None = all); the
        chosen parameters are then refitted on the whole training part.
    """

    def __init__(self, features, classifier, param_grid: dict | None = None, inner_k: int = 3,
                 tune_samples: int | None = None, n_jobs: int = 1, random_state: int = 0):
        self.features = features
        self.classifier = classifier
        self.param_grid = param_grid
        self.inner_k = inner_k
        self.tune_samples = tune_samples
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y, groups=None, X_val=None, y_val=None):
        y = np.asarray(y)
        self.features_ = clone(self.features).fit(X, y)
        F = self.features_.transform(X)
        self.best_params_, selection = {}, {"selection": "none (fixed parameters)"}
        if self.param_grid:
            F_val = None if X_val is None else self.features_.transform(X_val)
            self.best_params_, selection = self._select(F, y, groups, F_val, y_val)
        self.classifier_ = clone(self.classifier).set_params(**self.best_params_).fit(F, y)
        self.classes_ = self.classifier_.classes_
        self.fit_info_ = {"n_features": int(F.shape[1]), **selection, **_nested_fit_info(self.classifier_)}
        return self

    def predict(self, X):
        check_is_fitted(self, "classifier_")
        return self.classifier_.predict(self.features_.transform(X))

    def _select(self, F, y, groups, F_val, y_val) -> tuple[dict, dict]:
        idx = self._tuning_subset(y)
        if F_val is not None:
            data = np.concatenate([F[idx], F_val]), np.concatenate([y[idx], y_val])
            cv = PredefinedSplit(np.r_[np.full(len(idx), -1), np.zeros(len(y_val), int)])
            how = f"validation set ({len(y_val)} images)"
        else:
            data = F[idx], y[idx]
            cv, how = self._inner_cv(y[idx], None if groups is None else np.asarray(groups)[idx])
        search = GridSearchCV(clone(self.classifier), self.param_grid, cv=cv, refit=False, n_jobs=self.n_jobs,
                              error_score="raise").fit(*data)
        best = {k: _plain(v) for k, v in search.best_params_.items()}
        return best, {"selection": how, "selection_score": float(search.best_score_), "tuned_on": int(len(idx))}

    def _inner_cv(self, y, groups):
        if self.inner_k < 2:
            raise ConfigError(f"method.inner_k must be at least 2, got {self.inner_k}")
        if groups is None:
            cv = StratifiedKFold(self.inner_k, shuffle=True, random_state=self.random_state)
            return list(cv.split(y, y)), f"inner stratified {self.inner_k}-fold"
        k = min(self.inner_k, len(np.unique(groups)))
        if k < 2:
            raise ConfigError("inner cross-validation by subject needs at least 2 subjects in the training part")
        cv = StratifiedGroupKFold(k, shuffle=True, random_state=self.random_state)
        return list(cv.split(y, y, groups)), f"inner {k}-fold grouped by subject"

    def _tuning_subset(self, y) -> np.ndarray:
        """All training indices, or a stratified subsample of `tune_samples` of them."""
        if self.tune_samples is None or self.tune_samples >= len(y):
            return np.arange(len(y))
        from sklearn.model_selection import train_test_split

        idx, _ = train_test_split(np.arange(len(y)), train_size=int(self.tune_samples), stratify=y,
                                  random_state=self.random_state)
        return np.sort(idx)


def _nested_fit_info(estimator) -> dict:
    """`fit_info_` of the estimator or of any step of it (e.g. which SVM formulation was used)."""
    steps = [s for _, s in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    info = {}
    for step in steps:
        info.update(getattr(step, "fit_info_", {}) or {})
    return info


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v
