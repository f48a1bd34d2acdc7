"""Classifiers for the classical pipelines, where scikit-learn's own need a little help to scale.

`RBFSVM` is an RBF-kernel SVM that stays within minutes on FER2013: the exact `SVC` is quadratic
to cubic in the number of training images (about an hour for FER2013's 28,709 on 2 cores), so past
`exact_max_samples` it becomes a Nystroem approximation of the same kernel followed by a linear
SVM, which is linear in the number of images. The formulation used is recorded (`fit_info_`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.kernel_approximation import Nystroem
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.validation import check_is_fitted

from benchmark.errors import ConfigError

APPROX = ("auto", "exact", "nystroem")


class RBFSVM(ClassifierMixin, BaseEstimator):
    """RBF SVM, exact or Nystroem-approximated.

    `gamma` is relative to scikit-learn's "scale" heuristic, 1 / (n_features * X.var()), so one grid
    (e.g. 0.25, 1, 4) fits any feature set. `approx="auto"` uses the exact SVC up to
    `exact_max_samples` training images and `n_components` Nystroem landmarks beyond.
    """

    def __init__(self, C: float = 1.0, gamma: float = 1.0, approx: str = "auto", exact_max_samples: int = 8000,
                 n_components: int = 3000, class_weight=None, random_state: int = 0):
        self.C = C
        self.gamma = gamma
        self.approx = approx
        self.exact_max_samples = exact_max_samples
        self.n_components = n_components
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, X, y):
        if self.approx not in APPROX:
            raise ConfigError(f"RBFSVM approx must be one of {APPROX}, got {self.approx!r}")
        if not (self.C > 0 and self.gamma > 0):
            raise ConfigError(f"RBFSVM needs C > 0 and gamma > 0, got C={self.C}, gamma={self.gamma}")
        X = np.asarray(X, dtype=np.float64)
        var = X.var()
        self.gamma_ = float(self.gamma / (X.shape[1] * var)) if var > 0 else float(self.gamma)
        exact = self.approx == "exact" or (self.approx == "auto" and len(X) <= self.exact_max_samples)
        if exact:
            self.model_ = SVC(C=self.C, kernel="rbf", gamma=self.gamma_, class_weight=self.class_weight,
                              random_state=self.random_state)
            self.model_.fit(X, y)
            self.map_ = None
        else:
            self.map_ = Nystroem(kernel="rbf", gamma=self.gamma_, n_components=min(self.n_components, len(X)),
                                 random_state=self.random_state).fit(X)
            # primal solver: with many more images than landmarks it is about 2x faster than the dual
            self.model_ = LinearSVC(C=self.C, dual=False, class_weight=self.class_weight,
                                    random_state=self.random_state, max_iter=5000).fit(self.map_.transform(X), y)
        self.classes_ = self.model_.classes_
        self.fit_info_ = {"svm_formulation": "exact SVC" if exact else
                          f"Nystroem({self.map_.n_components} landmarks) + LinearSVC",
                          "svm_gamma": self.gamma_}
        return self

    def decision_function(self, X):
        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=np.float64)
        return self.model_.decision_function(X if self.map_ is None else self.map_.transform(X))

    def predict(self, X):
        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=np.float64)
        return self.model_.predict(X if self.map_ is None else self.map_.transform(X))
