"""Evaluation protocols: how a data set is cut into train / (validation) / test folds.

Every protocol returns `Fold`s of index arrays into the data set. The test indices of a fold are
never shown to the method before prediction; model selection uses `Fold.val` when the protocol has
one (FER2013's PublicTest) or an inner split of `Fold.train` made by the method itself.
Folds depend only on the data set, the protocol's parameters and its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import (
    LeaveOneGroupOut,
    StratifiedGroupKFold,
    StratifiedKFold,
)

from benchmark.datasets.base import Dataset
from core import validation as check
from core.errors import ConfigError, DataError
from core.labels import CLASS_NAMES

OFFICIAL_SPLITS = ("Training", "PublicTest", "PrivateTest")


@dataclass
class Fold:
    """One train/test cut. `tests` maps a test-set name to indices; `primary` names the one reported."""

    name: str
    train: np.ndarray
    tests: dict[str, np.ndarray]
    primary: str = "test"
    val: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


class Protocol:
    """Base: `check` what the protocol needs of a data set (before any work), then make `folds`."""

    name = "protocol"
    needs_subjects = False
    needs_official_split = False

    def check_loader(self, loader) -> None:
        """Fail before loading when the data set cannot support this protocol at all."""
        dataset_name = getattr(loader, "name", type(loader).__name__)
        if self.needs_subjects and not loader.has_subjects:
            raise ConfigError(
                f"protocol={self.name} needs subject ids, and {dataset_name} has none. "
                f"Use protocol=kfold" + (" or protocol=official." if loader.has_official_split else ".")
            )
        if self.needs_official_split and not loader.has_official_split:
            raise ConfigError(
                f"protocol={self.name} needs an official train/validation/test split, and "
                f"{dataset_name} has none. Use protocol=kfold, subject_kfold or loso."
            )

    def prepare(self, faces: Dataset, cfg, detector, method) -> Dataset:
        """The faces the folds are made of: the data set's own (a cross-data-set protocol adds others).
        `method` is the run's estimator, unfitted."""
        return faces

    def data_fingerprint(self, source: str | None, cfg) -> str | None:
        """The fingerprint of the data a run reads: the data set's (`source`) unless the protocol reads more."""
        return source

    def check(self, dataset: Dataset) -> None:
        """Fail on the loaded data set when the protocol's parameters do not fit it."""

    def folds(self, dataset: Dataset) -> list[Fold]:
        raise NotImplementedError


class _KFoldBase(Protocol):
    """k folds, `repeats` times over with the seeds seed, seed + 1, ...: repeated cross-validation, for a
    test over folds that can reach significance (`benchmark.report.stats.corrected_repeated_cv`). Each
    image is tested once per repeat; folds are named fold<i>, or r<repeat>-fold<i> when repeated."""

    def __init__(self, k: int = 5, seed: int = 0, repeats: int = 1):
        self.k = check.number("k", k, 2, integer=True)
        self.seed = check.number("seed", seed, integer=True)
        self.repeats = check.number("repeats", repeats, 1, integer=True)

    def _repeated(self, split) -> list[Fold]:
        """`split(random_state)` -> [(name, train, test, meta)] for each repeat, named by repeat."""
        folds = []
        for r in range(self.repeats):
            for name, tr, te, meta in split(self.seed + r):
                folds.append(Fold(name if self.repeats == 1 else f"r{r}-{name}", tr, {"test": te}, meta=meta))
        return folds

    def _check_classes(self, dataset: Dataset) -> None:
        smallest = min(np.count_nonzero(dataset.labels == c) for c in dataset.classes)
        if smallest < self.k:
            raise ConfigError(
                f"protocol.k={self.k} is larger than the smallest class of {dataset.name} "
                f"({smallest} images); use k <= {smallest}."
            )


class KFold(_KFoldBase):
    """Stratified random k-fold: what most papers report. Leaks subjects on JAFFE and CK+."""

    name = "kfold"

    def check(self, dataset):
        self._check_classes(dataset)

    def folds(self, dataset):
        def split(seed):
            cv = StratifiedKFold(n_splits=self.k, shuffle=True, random_state=seed)
            return [
                (f"fold{i}", tr, te, {}) for i, (tr, te) in enumerate(cv.split(np.zeros(len(dataset)), dataset.labels))
            ]

        return self._repeated(split)


class SubjectKFold(_KFoldBase):
    """k folds grouped by subject, stratified as far as the groups allow: no subject in train and test."""

    name = "subject_kfold"
    needs_subjects = True

    def check(self, dataset):
        if dataset.n_subjects < self.k:
            raise ConfigError(
                f"protocol.k={self.k} is larger than the number of subjects in {dataset.name} "
                f"({dataset.n_subjects}); use 2 <= k <= {dataset.n_subjects}, or protocol=loso."
            )

    def folds(self, dataset):
        def split(seed):
            cv = StratifiedGroupKFold(n_splits=self.k, shuffle=True, random_state=seed)
            return [
                (f"fold{i}", tr, te, {"test_subjects": sorted(set(dataset.subjects[te].tolist()))})
                for i, (tr, te) in enumerate(cv.split(np.zeros(len(dataset)), dataset.labels, dataset.subjects))
            ]

        return self._repeated(split)


class LOSO(Protocol):
    """Leave one subject out: one fold per subject. A held-out image whose class no other subject has
    is not tested (the fold's training part cannot teach it); the fold's `untested` counts them by
    class. With subjects that are whole data sets (`dataset=merged`) this is leave-one-data-set-out,
    tested, as `protocol=cross` is, on the classes the others share (CK+'s contempt when no other
    part has it)."""

    name = "loso"
    needs_subjects = True

    def check(self, dataset):
        if dataset.n_subjects < 2:
            raise ConfigError(f"protocol=loso needs at least 2 subjects; {dataset.name} has {dataset.n_subjects}.")

    def folds(self, dataset):
        folds = []
        for tr, te in LeaveOneGroupOut().split(np.zeros(len(dataset)), dataset.labels, dataset.subjects):
            subject = str(dataset.subjects[te[0]])
            meta = {"test_subjects": [subject]}
            unseen = ~np.isin(dataset.labels[te], dataset.labels[tr])
            if unseen.all():
                raise DataError(
                    f"{dataset.name}: every image of subject {subject} is of a class no other subject "
                    f"has ({', '.join(sorted({CLASS_NAMES[c] for c in dataset.labels[te]}))}): "
                    "leaving it out tests nothing: leave that subject, or its class, out of the data set."
                )
            if unseen.any():
                codes, counts = np.unique(dataset.labels[te][unseen], return_counts=True)
                meta["untested"] = {CLASS_NAMES[c]: int(n) for c, n in zip(codes, counts)}
                te = te[~unseen]
            folds.append(Fold(f"subject_{subject}", tr, {"test": te}, meta=meta))
        return folds


class Official(Protocol):
    """FER2013's own split: fit on Training, select on PublicTest, report PrivateTest (and PublicTest)."""

    name = "official"
    needs_official_split = True

    def check(self, dataset):
        present = set(dataset.splits.tolist()) if dataset.splits is not None else set()
        missing = [s for s in OFFICIAL_SPLITS if s not in present]
        if missing:
            raise ConfigError(f"protocol=official: {dataset.name} has no images in split(s) {missing}.")

    def folds(self, dataset):
        idx = {s: np.flatnonzero(dataset.splits == s) for s in OFFICIAL_SPLITS}
        return [
            Fold(
                "official",
                idx["Training"],
                {"PrivateTest": idx["PrivateTest"], "PublicTest": idx["PublicTest"]},
                primary="PrivateTest",
                val=idx["PublicTest"],
            )
        ]
