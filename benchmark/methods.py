"""Building methods from config, and the estimator every classical method is.

A classical method is features (a stateless transformer: LBP, Gabor, HOG, ...) followed by a
classifier (usually a `benchmark.tuning.TunedClassifier`). `FeatureClassifier` computes the features
once per fold, not once per grid candidate, and passes the fold's subject ids and validation set
on to the classifier under the same rule the runner uses: only when its `fit` names them.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from core.errors import ConfigError
from core.selection import fit_kwargs


def pipeline(steps: dict) -> Pipeline:
    """`steps` is an ordered mapping name -> estimator (YAML keeps the order), so a config can
    override one step's parameter by name (`method.steps.svm.C=0.1`) or skip a step (`passthrough`)."""
    if not steps:
        raise ConfigError("a method pipeline needs at least one step")
    return Pipeline(list(steps.items()))


def _classifier_has(method: str):
    """For `available_if`: the fitted classifier (or, before fitting, the configured one) has `method`."""
    return lambda self: hasattr(getattr(self, "classifier_", self.classifier), method)


class FeatureClassifier(ClassifierMixin, BaseEstimator):
    """Features computed once per fold, then the classifier (which may tune itself on training data).

    `predict_proba` and `decision_function` exist when the classifier has them.
    """

    #: the method family the run record and the leaderboards state (the deep estimators say "deep")
    family = "classical"

    def __init__(self, features, classifier):
        self.features = features
        self.classifier = classifier

    def fit(self, X, y, groups=None, X_val=None, y_val=None):
        self.features_ = clone(self.features).fit(X, y)
        F = self.features_.transform(X)
        self.classifier_ = clone(self.classifier)
        extra = {"groups": groups, "y_val": y_val,
                 "X_val": None if X_val is None else self.features_.transform(X_val)}
        self.classifier_.fit(F, y, **fit_kwargs(self.classifier_, extra))
        self.classes_ = self.classifier_.classes_
        self.fit_info_ = {"n_features": int(F.shape[1]), **(getattr(self.classifier_, "fit_info_", None) or {})}
        return self

    def predict(self, X):
        check_is_fitted(self, "classifier_")
        return self.classifier_.predict(self.features_.transform(X))

    @available_if(_classifier_has("predict_proba"))
    def predict_proba(self, X):
        check_is_fitted(self, "classifier_")
        return self.classifier_.predict_proba(self.features_.transform(X))

    @available_if(_classifier_has("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self, "classifier_")
        return self.classifier_.decision_function(self.features_.transform(X))
