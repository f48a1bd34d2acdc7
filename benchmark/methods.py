"""Building methods from config, and the estimator every classical method is.

A classical method is features (a stateless transformer: LBP, Gabor, HOG, ...) followed by a
classifier (usually a `benchmark.tuning.TunedClassifier`). `FeatureClassifier` computes the features
once per fold, not once per grid candidate, and passes the fold's subject ids and validation set
on to the classifier under the same rule the runner uses: only when its `fit` names them.
"""

from __future__ import annotations

import os

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from core import validation as check
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


class Pretrained(ClassifierMixin, BaseEstimator):
    """A model fitted elsewhere, loaded from a file (`benchmark.inference.models.load_model`: a CNN
    checkpoint, an ONNX file, a saved pipeline or a run record): `fit` learns nothing, it loads the
    model and records the file and its SHA-256; `predict` maps the model's classes onto the label
    codes. For scoring a committed model on other data (zero-shot, cross-data set) or under
    perturbations without training it again.

    The images must be crops of the model's input size (set `detector.size` to it); `tta` overrides a
    CNN's test-time augmentation. A list of models is their average (probabilities averaged over the
    union of their classes: `benchmark.inference.models.Averaged`), e.g. committed checkpoints of
    several seeds.

    `logit_adjust` (tau >= 0; 0: off) divides the model's probabilities by the class frequencies of
    the labels `fit` is given raised to tau, then renormalises (`benchmark.inference.models.logit_adjust`,
    Menon et al. 2021, arXiv 2007.07314). The frequencies are counted with one added per class, so a
    class missing from `y` is not divided by zero, and are kept in fit_info `class_prior` (the shipped
    model's manifest reads them from there). `fit` then uses the labels (their counts only), never the
    images.
    """

    #: `fit` learns nothing from the data it is given: a protocol files its scores under the data set
    #: the model learned from (`benchmark.cross_dataset`)
    fits_nothing = True

    def __init__(self, model: str | list, tta: str | None = None, logit_adjust: float = 0.0):
        self.model = model
        self.tta = tta
        self.logit_adjust = logit_adjust

    @property
    def family(self) -> str:
        return self._loaded().family

    def check_params(self) -> None:
        from benchmark.inference.models import resolve

        check.number("logit_adjust", self.logit_adjust, 0, 10)
        for model in self._files():
            resolve(model)

    def _files(self) -> list:
        return [self.model] if isinstance(self.model, (str, os.PathLike)) else list(self.model)

    def _loaded(self):
        from benchmark.inference.models import load_model

        if getattr(self, "_model", None) is None:
            self._model = load_model(self.model, self.tta)
        return self._model

    def fit(self, X, y=None):
        from benchmark.inference.models import resolve
        from core.io import sha256
        from core.labels import CLASS_NAMES, CODE

        self.check_params()
        model = self._loaded()
        self.model_ = model
        self.classes_ = np.array([CODE[name] for name in model.classes])
        files = [str(resolve(f)) for f in self._files()]
        digests = [sha256(f) for f in files]
        self.fit_info_ = {"selection": "none: a fitted model, loaded", "model_file": files[0] if len(files) == 1
                          else files, "sha256": digests[0] if len(digests) == 1 else digests,
                          "n_train_unused": len(X), "input_size": model.input_size}
        if self.logit_adjust:
            if y is None:
                raise ConfigError("needs the training labels' class frequencies: fit(X, y)", "logit_adjust")
            counts = (np.asarray(y)[:, None] == self.classes_[None, :]).sum(axis=0) + 1
            self.class_prior_ = counts / counts.sum()
            self.fit_info_["class_prior"] = {CLASS_NAMES[c]: round(float(p), 6)
                                             for c, p in zip(self.classes_, self.class_prior_, strict=True)}
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "model_")
        X = np.asarray(X)
        if X.ndim == 3 and X.shape[1:] != (self.model_.input_size,) * 2:
            raise ConfigError(f"is {X.shape[1]}x{X.shape[2]}, but {self.model_.name} takes "
                              f"{self.model_.input_size}x{self.model_.input_size} crops: set "
                              f"detector.size={self.model_.input_size}", "crop size")
        proba = self.model_.predict_proba(X)
        if not self.logit_adjust:
            return proba
        from benchmark.inference.models import logit_adjust

        return logit_adjust(proba, self.class_prior_, self.logit_adjust)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
