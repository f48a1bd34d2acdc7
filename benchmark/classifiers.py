"""Classifiers for the classical pipelines, where scikit-learn's own need a little help to scale.

`RBFSVM` is scikit-learn's RBF `SVC` with the kernel matrix computed by BLAS. libsvm evaluates the
kernel one pair of images at a time in a scalar loop and caches only 200 MB of it, so on FER2013
(28,709 images, 1-4 k features) nearly all of its hour goes into recomputing kernel values. Handing
it the precomputed matrix (block by block with `sklearn.metrics.pairwise.rbf_kernel`, 6.6 GB in
float64 for FER2013) leaves libsvm only its SMO iterations: the same exact solution in minutes.
Past `exact_max_samples`, where the matrix would not fit in memory, it becomes a Nystroem
approximation of the same kernel followed by a linear SVM, linear in the number of images. The
formulation used is recorded (`fit_info_`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.kernel_approximation import Nystroem
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.svm import SVC, LinearSVC
from sklearn.utils.validation import check_is_fitted

from core import validation as check

APPROX = ("auto", "exact", "nystroem")
#: rows of a kernel matrix computed per BLAS call: bounds the temporaries (and prediction's memory)
KERNEL_BLOCK = 2048


class RBFSVM(ClassifierMixin, BaseEstimator):
    """RBF SVM, exact (libsvm on a precomputed kernel matrix) or Nystroem-approximated.

    `gamma` is relative to scikit-learn's "scale" heuristic, 1 / (n_features * X.var()), so one grid
    (e.g. 0.25, 1, 4) fits any feature set. `approx="auto"` is exact up to `exact_max_samples`
    training images (the kernel matrix takes 8 * n**2 bytes: 7.2 GB at 30,000) and uses
    `n_components` Nystroem landmarks beyond. Predictions equal those of `SVC(kernel="rbf")`.
    """

    def __init__(
        self,
        C: float = 1.0,
        gamma: float = 1.0,
        approx: str = "auto",
        exact_max_samples: int = 30000,
        n_components: int = 3000,
        class_weight=None,
        random_state: int = 0,
    ):
        self.C = C
        self.gamma = gamma
        self.approx = approx
        self.exact_max_samples = exact_max_samples
        self.n_components = n_components
        self.class_weight = class_weight
        self.random_state = random_state

    def check_params(self) -> None:
        check.choice("approx", self.approx, APPROX)
        check.number("C", self.C, 0, low_open=True)
        check.number("gamma", self.gamma, 0, low_open=True)
        check.number("exact_max_samples", self.exact_max_samples, 1, integer=True)
        check.number("n_components", self.n_components, 1, integer=True)

    def fit(self, X, y):
        self.check_params()
        X = np.asarray(X, dtype=np.float64)
        var = X.var()
        self.gamma_ = float(self.gamma / (X.shape[1] * var)) if var > 0 else float(self.gamma)
        exact = self.approx == "exact" or (self.approx == "auto" and len(X) <= self.exact_max_samples)
        if exact:
            self.model_ = SVC(
                C=self.C, kernel="precomputed", class_weight=self.class_weight, random_state=self.random_state
            ).fit(_kernel(X, X, self.gamma_), y)
            self.support_vectors_ = X[self.model_.support_]
            self.n_fit_ = len(X)
            self.map_ = None
        else:
            self.map_ = Nystroem(
                kernel="rbf",
                gamma=self.gamma_,
                n_components=min(self.n_components, len(X)),
                random_state=self.random_state,
            ).fit(X)
            # primal solver: with many more images than landmarks it is about 2x faster than the dual
            self.model_ = LinearSVC(
                C=self.C, dual=False, class_weight=self.class_weight, random_state=self.random_state, max_iter=5000
            ).fit(self.map_.transform(X), y)
        self.classes_ = self.model_.classes_
        self.fit_info_ = {
            "svm_formulation": "exact SVC (precomputed kernel)"
            if exact
            else f"Nystroem({self.map_.n_components} landmarks) + LinearSVC",
            "svm_gamma": self.gamma_,
        }
        return self

    def decision_function(self, X):
        return self._blockwise("decision_function", X)

    def predict(self, X):
        return self._blockwise("predict", X)

    def _blockwise(self, method: str, X) -> np.ndarray:
        """`method` of the fitted libsvm / linear model, on the kernel (or Nystroem) features of X,
        a block of rows at a time. libsvm reads only the support vectors' columns of a precomputed
        kernel, so the others are left at zero rather than computed."""
        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=np.float64)
        out = []
        for start in range(0, len(X), KERNEL_BLOCK):
            block = X[start : start + KERNEL_BLOCK]
            if self.map_ is not None:
                features = self.map_.transform(block)
            else:
                features = np.zeros((len(block), self.n_fit_))
                features[:, self.model_.support_] = rbf_kernel(block, self.support_vectors_, gamma=self.gamma_)
            out.append(getattr(self.model_, method)(features))
        return np.concatenate(out)


def _kernel(X: np.ndarray, Y: np.ndarray, gamma: float) -> np.ndarray:
    """The RBF kernel matrix K[i, j] = exp(-gamma ||X[i] - Y[j]||^2), computed in blocks of rows."""
    K = np.empty((len(X), len(Y)))
    for start in range(0, len(X), KERNEL_BLOCK):
        K[start : start + KERNEL_BLOCK] = rbf_kernel(X[start : start + KERNEL_BLOCK], Y, gamma=gamma)
    return K
