"""`SeedEnsemble`: copies of one estimator trained from different seeds, their probabilities averaged.

Why: at the end of its FER2013 schedule a fernet fits its augmented training images far better
than PublicTest (86 % against 68 %), so much of its error is variance, which nets trained from
different seeds do not share; averaging them removes part of it. For a fixed training budget, split
the epochs between the members (conf/method/cnn_ensemble.yaml).
Measured on FER2013 against the hour spent on one net (the cnn_ensemble row of
results/leaderboards/fer2013__official.md, its members' scores in its record): the ensemble of two
halved schedules does worse than one fernet of the full recipe; with the test-time views already
averaging out much of a net's variance, averaging added less than the halved schedule cost each member.

Member i is the estimator with `seed + i`, fitted with the same data (and the same validation set
and subject groups, under the runner's rule: only when its `fit` names them), so a one-member
ensemble is the estimator itself.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from core import validation as check
from core.composites import Average
from core.errors import ConfigError
from core.selection import fit_kwargs

#: fit_info_ entries of the members that add up to the ensemble's
SUMMED = ("train_seconds", "epochs_run", "parameters", "macs_per_image")


class SeedEnsemble(ClassifierMixin, BaseEstimator):
    """`n_members` clones of `estimator` (which has a `seed` parameter and `predict_proba`), seeds
    `seed`, `seed`+1, ...; fitted, it is their `core.composites.Average` (`average_`)."""

    #: the method family the run record and the leaderboards state
    family = "deep"

    def __init__(self, estimator, n_members: int = 2):
        self.estimator = estimator
        self.n_members = n_members

    def check_params(self) -> None:
        """`n_members`, and that the member estimator has a seed to vary (its own parameters are its
        own to check: `core.validation.check_params` walks into it)."""
        check.number("n_members", self.n_members, 1, integer=True)
        if self.estimator.get_params().get("seed") is None:
            raise ConfigError(
                f"is a {type(self.estimator).__name__}, which has no seed parameter to vary between members",
                "estimator",
            )

    def fit(self, X, y, groups=None, X_val=None, y_val=None, y_soft=None):
        self.check_params()
        seed = self.estimator.get_params()["seed"]
        available = {"groups": groups, "X_val": X_val, "y_val": y_val, "y_soft": y_soft}
        seeds = [seed + i for i in range(self.n_members)]
        self.estimators_ = []
        for member_seed in seeds:
            member = clone(self.estimator).set_params(seed=member_seed)
            self.estimators_.append(member.fit(X, y, **fit_kwargs(member, available)))
        self.average_ = Average(self.estimators_)
        self.classes_ = self.average_.classes_
        infos = [getattr(m, "fit_info_", None) or {} for m in self.estimators_]
        self.fit_info_ = {
            "n_members": self.n_members,
            "seeds": seeds,
            **{k: sum(i[k] for i in infos) for k in SUMMED if all(k in i for i in infos)},
            "members": infos,
        }
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "average_")
        return self.average_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]
