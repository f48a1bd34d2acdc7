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
        extra = {"groups": groups, "y_val": y_val, "X_val": None if X_val is None else self.features_.transform(X_val)}
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
    union of their classes: `core.composites.Average`), e.g. committed checkpoints of
    several seeds.

    `logit_adjust` (tau >= 0; 0: off) divides the model's probabilities by the class frequencies of
    the labels it learned from, raised to tau, then renormalises (`benchmark.inference.models.logit_adjust`,
    Menon et al. 2021, arXiv 2007.07314). `prior` says where those frequencies come from: "fit", the
    labels `fit` is given (counted with one added per class, so a class missing from `y` is not divided
    by zero; kept in fit_info `class_prior`, which a manifest reads), right when the model was trained
    on the data set being run; or a run record that counted them (`benchmark.inference.models.prior_of`),
    e.g. the shipped model's manifest's, so that a run on another data set adjusts by the model's own
    training labels. `fit` uses labels (their counts only), never the images.

    `framing` "model": the run's face crops are cut as the model's were (size, margin, alignment: its
    face stage; `with_model_framing`, applied where the run is composed); "config": as conf/detector says.
    conf/method/pretrained.yaml takes every default from the shipped model's manifest, so
    `ferbench run dataset=jaffe detector=haar method=pretrained` scores the shipped model as its
    committed figures were measured.
    """

    #: `fit` learns nothing from the data it is given: a protocol files its scores under the data set
    #: the model learned from (`benchmark.cross_dataset`)
    fits_nothing = True

    def __init__(
        self,
        model: str | list,
        tta: str | None = None,
        logit_adjust: float = 0.0,
        prior: str = "fit",
        framing: str = "config",
    ):
        self.model = model
        self.tta = tta
        self.logit_adjust = logit_adjust
        self.prior = prior
        self.framing = framing

    @property
    def family(self) -> str:
        """deep | classical: what the model files are (`benchmark.inference.models.family_of`), read
        without loading them, so `set_params` before `fit` is never overtaken by a model loaded early."""
        from benchmark.inference.models import family_of

        return family_of(self.model)

    def check_params(self) -> None:
        from benchmark.inference.models import resolve

        check.number("logit_adjust", self.logit_adjust, 0, 10)
        check.choice("framing", self.framing, ("model", "config"))
        if not isinstance(self.prior, str) or not self.prior:
            raise ConfigError(
                f"must be fit or a run record that counted the class frequencies, got {self.prior!r}", "prior"
            )
        for model in self._files() + ([] if self.prior == "fit" else [self.prior]):
            resolve(model)

    def _files(self) -> list:
        return [self.model] if isinstance(self.model, (str, os.PathLike)) else list(self.model)

    def fit(self, X, y=None):
        from benchmark.inference.models import load_model, logit_adjusted, prior_of, resolve
        from core.io import sha256
        from core.labels import CODE

        self.check_params()
        model = load_model(self.model, self.tta)
        self.classes_ = np.array([CODE[name] for name in model.classes])
        files = [str(resolve(f)) for f in self._files()]
        digests = [sha256(f) for f in files]
        self.fit_info_ = {
            "selection": "none: a fitted model, loaded",
            "model_file": files[0] if len(files) == 1 else files,
            "sha256": digests[0] if len(digests) == 1 else digests,
            "n_train_unused": len(X),
            "input_size": model.input_size,
        }
        if self.logit_adjust:
            if self.prior != "fit":
                counted = prior_of(self.prior)
                missing = [c for c in model.classes if c not in counted]
                if missing:
                    raise ConfigError(f"{self.prior} counted no frequency for {', '.join(missing)}", "prior")
                prior = {c: counted[c] for c in model.classes}
            elif y is None:
                raise ConfigError("needs the training labels' class frequencies: fit(X, y)", "logit_adjust")
            else:
                counts = (np.asarray(y)[:, None] == self.classes_[None, :]).sum(axis=0) + 1
                prior = {c: float(n / counts.sum()) for c, n in zip(model.classes, counts, strict=True)}
            model = logit_adjusted(model, prior, self.logit_adjust)
            self.fit_info_["class_prior"] = {c: round(p, 6) for c, p in prior.items()}
        self.model_ = model
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "model_")
        X = np.asarray(X)
        if X.ndim == 3 and X.shape[1:] != (self.model_.input_size,) * 2:
            raise ConfigError(
                f"is {X.shape[1]}x{X.shape[2]}, but {self.model_.name} takes "
                f"{self.model_.input_size}x{self.model_.input_size} crops: set "
                f"detector.size={self.model_.input_size}",
                "crop size",
            )
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def with_model_framing(cfg):
    """`cfg` with its detector's crop settings (size, margin, alignment, preprocessing) those of the model
    a `Pretrained` method with `framing: model` scores: its face stage (the shipped model's manifest, or
    the checkpoint's), and its input size. Settings the command line gave (`detector.margin=0.2`) are kept.
    Any other config is returned as it is. Called where a run is composed, before its run key is taken."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    method, detector = cfg.method, cfg.detector
    if (
        method.get("_target_") != f"{Pretrained.__module__}.Pretrained"
        or method.get("framing") != "model"
        or str(detector.get("_target_", "")).endswith("NoDetector")
    ):
        return cfg
    from benchmark.inference.pipeline import crop_keys, model_framing

    stage, size = model_framing(OmegaConf.to_container(method, resolve=True)["model"])
    typed = set()
    if HydraConfig.initialized():
        typed = {
            o.split("=", 1)[0].lstrip("+~").removeprefix("detector.")
            for o in HydraConfig.get().overrides.task
            if o.lstrip("+~").startswith("detector.")
        }
    framing = {k: v for k, v in stage.items() if k in crop_keys() and k not in typed}
    if "size" not in typed:
        framing["size"] = size
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.detector = OmegaConf.merge(cfg.detector, framing)
    return cfg
