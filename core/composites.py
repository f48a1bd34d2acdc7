"""Classifiers made of classifiers: the average of several (`Average`) and one with its probabilities
logit-adjusted (`LogitAdjust`). Each is a classifier itself (`classes_`, `predict_proba`) and delegates
to the fitted classifiers it holds (`Composite.parts`), so code that must reach those (Grad-CAM of the
CNNs inside, a video run through ONNX Runtime) walks `parts` and builds the same composite over what it
made of them (`rebuilt`), without asking which composite it holds. The one averaging and the one
logit adjustment of ferbench: the applications' models (`benchmark.inference.models`), `method=pretrained`
(`benchmark.methods.Pretrained`) and seed ensembles (`deep.ensemble.SeedEnsemble`) all use these.

A classifier here has `classes_`, the label codes of its columns (core.labels.CLASS_NAMES indices), and
`predict_proba(X)` -> (N, K) probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: maps(crops, targets) -> (N, S, S) float maps: an explanation of one part for its own class indices
PartMaps = Callable[[np.ndarray, np.ndarray], np.ndarray]


def logit_adjust(proba: np.ndarray, class_prior: np.ndarray, tau: float) -> np.ndarray:
    """Logit adjustment (Menon et al. 2021, "Long-tail learning via logit adjustment", arXiv 2007.07314)
    of probabilities (N, K) (float): each column divided by its class's training frequency `class_prior` (K,)
    to the power `tau`, each row renormalised to sum to 1. In log space that subtracts
    tau * log(prior) from every class score: tau 0 changes nothing, tau 1 is the rule that maximises
    balanced accuracy (every class weighted equally) for a model that learned its training data's
    class mix. For faces whose classes are mixed otherwise than the training data's. Computed in log
    space (a tiny frequency to a large power does not underflow). Returns float64 (N, K)."""
    with np.errstate(divide="ignore"):  # a probability of 0 stays 0
        scores = np.log(np.asarray(proba, np.float64)) - float(tau) * np.log(np.asarray(class_prior, np.float64))
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return scores / scores.sum(axis=1, keepdims=True)


class Composite:
    """A classifier made of others (`parts`); `rebuilt(parts)` is the same composite over other parts
    of the same classes (e.g. each part run by another backend); `combine_maps` makes the composite's
    explanation of crops for its classes from its parts' (`PartMaps`, one per part); `describe` adds
    what it does to a name."""

    classes_: np.ndarray

    def parts(self) -> list:
        raise NotImplementedError

    def rebuilt(self, parts: Sequence) -> Composite:
        raise NotImplementedError

    def combine_maps(self, part_maps: Sequence[PartMaps], crops: np.ndarray, targets: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self, name: str) -> str:
        return name


class Average(Composite):
    """The mean of `members`' probabilities (each a classifier), each member's columns placed among the
    union of their classes (in label-code order; a class a member does not know gets 0 from it): e.g.
    a FER2013 model (7 classes) with a FER+ one (8, contempt too), or the members of a seed ensemble."""

    def __init__(self, members: Sequence):
        if not members:
            raise ValueError("an average needs at least one member")
        self.members = list(members)
        self.classes_ = np.array(sorted({int(c) for m in self.members for c in m.classes_}))
        self._columns = [np.searchsorted(self.classes_, np.asarray(m.classes_, int)) for m in self.members]

    def predict_proba(self, X) -> np.ndarray:
        out = np.zeros((len(X), len(self.classes_)), np.float32)
        for member, columns in zip(self.members, self._columns, strict=True):
            out[:, columns] += np.asarray(member.predict_proba(X), np.float32)
        return out / len(self.members)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def parts(self) -> list:
        return list(self.members)

    def rebuilt(self, parts: Sequence) -> Average:
        return Average(parts)

    def combine_maps(self, part_maps: Sequence[PartMaps], crops: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """For each crop, the mean of the maps of the members that have its target class (every class of an
        average is some member's)."""
        codes = self.classes_[np.asarray(targets, int)]
        total, count = np.zeros(crops.shape, np.float32), np.zeros(len(crops))
        for member, maps in zip(self.members, part_maps, strict=True):
            column = {int(c): i for i, c in enumerate(member.classes_)}
            has = np.isin(codes, list(column))
            if has.any():
                total[has] += maps(crops[has], np.array([column[int(c)] for c in codes[has]]))
                count[has] += 1
        return total / count[:, None, None]


class LogitAdjust(Composite):
    """`estimator`'s probabilities logit-adjusted (`logit_adjust`) by `class_prior` (K,), the training
    frequencies of its classes in the order of its `classes_`, to the power `tau`.

    The adjustment adds a constant to each class's log-probability, so every gradient of a class score
    is the estimator's own: its explanation is the estimator's (`combine_maps`)."""

    def __init__(self, estimator, class_prior, tau: float):
        self.estimator = estimator
        self.class_prior = np.asarray(class_prior, np.float64)
        self.tau = float(tau)
        self.classes_ = estimator.classes_

    def predict_proba(self, X) -> np.ndarray:
        return logit_adjust(self.estimator.predict_proba(X), self.class_prior, self.tau).astype(np.float32)

    def predict(self, X) -> np.ndarray:
        return np.asarray(self.classes_)[self.predict_proba(X).argmax(axis=1)]

    def parts(self) -> list:
        return [self.estimator]

    def rebuilt(self, parts: Sequence) -> LogitAdjust:
        (estimator,) = parts
        return LogitAdjust(estimator, self.class_prior, self.tau)

    def combine_maps(self, part_maps: Sequence[PartMaps], crops: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return part_maps[0](crops, targets)

    def describe(self, name: str) -> str:
        return f"{name}, logit-adjusted (tau {self.tau:g})"


def leaves(estimator) -> list:
    """The fitted classifiers inside `estimator`, composites opened (itself when it is none)."""
    if isinstance(estimator, Composite):
        return [leaf for part in estimator.parts() for leaf in leaves(part)]
    return [estimator]
