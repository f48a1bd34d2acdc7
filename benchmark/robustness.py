"""Scoring a fitted method on perturbed copies of its fold's test images (`+perturb=standard`).

The method is fitted once per fold on the clean training images, exactly as without perturbations
(the runner hands `Perturber` the fitted estimator after `fit`, and only the test indices); its
primary test set is then predicted clean and under every perturbation and severity of
`benchmark.perturbations`, all in the same run and record. Two modes, stated in the record:

- crop: the face crops the method sees are perturbed (what a given face stage would pass on);
- image: the original photos are perturbed, then go through the run's own detector again (data sets
  with a detector: JAFFE), so a dark or blurred photo can also lose its face. Occluders are placed
  through the clean detection's square; `crop_shift`, a detector's misplacement, exists only in
  crop mode. An image whose face is dropped by the detector's policy counts as wrong.

`n_images` scores the perturbations on a seeded, class-stratified sample of at most that many of each
fold's test images (FER2013's 3,589 PrivateTest images x 44 conditions are 158,000 predictions per
method); the record's clean figures for the curves are then those of the same sample.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from benchmark import perturbations as P
from benchmark.datasets.base import Dataset
from benchmark.faces.base import FaceDetector
from benchmark.protocols import Fold
from core import validation as check
from core.errors import ConfigError

MODES = ("crop", "image")


class Perturber:
    """The perturbations of a run: `names` (of `benchmark.perturbations.NAMES`), `mode` (crop | image),
    the `seed` of their random choices (the run's) and `n_images` (None: every test image; else a
    seeded, class-stratified sample of at most that many per fold)."""

    def __init__(self, names=P.NAMES, mode: str = "crop", seed: int = 0, n_images: int | None = None):
        self.names = [check.choice("names", name, P.NAMES) for name in names]
        self.mode = check.choice("mode", mode, MODES)
        self.seed = check.number("seed", seed, integer=True)
        self.n_images = check.number("n_images", n_images, 1, integer=True, optional=True)

    def check(self, detector) -> None:
        """Image mode needs a detector to run again on the perturbed photos."""
        if self.mode == "image" and not isinstance(detector, FaceDetector):
            raise ConfigError(
                "is image, which perturbs photos before detection: use a detector (haar, mtcnn), "
                "or perturb.mode=crop for ready-made crops",
                "perturb.mode",
            )

    def conditions(self) -> list[tuple[str, int]]:
        """(perturbation, severity) in the order they are run; crop-only ones are left out in image mode."""
        return [
            (name, s)
            for name in self.names
            if not (self.mode == "image" and name in P.CROP_ONLY)
            for s in range(1, P.N_SEVERITIES + 1)
        ]

    def describe(self, detector) -> dict:
        """What the record says of them: mode, seed, and each perturbation's scale."""
        return {
            "mode": self.mode,
            "seed": self.seed,
            "severities": P.N_SEVERITIES,
            "n_images": self.n_images,
            "layout": vars(_layout(detector)),
            "scales": {
                name: {"unit": P.SCALES[name][0], "levels": P.SCALES[name][1]}
                for name in dict.fromkeys(n for n, _ in self.conditions())
            },
        }

    def sample(self, labels: np.ndarray) -> np.ndarray:
        """Sorted positions of the scored images among a fold's test images of `labels`: all of them, or
        a class-stratified sample of `n_images` drawn with the run's seed (the same for every method)."""
        positions = np.arange(len(labels))
        if self.n_images is None or self.n_images >= len(labels):
            return positions
        try:
            chosen, _ = train_test_split(positions, train_size=self.n_images, stratify=labels, random_state=self.seed)
        except ValueError as exc:
            raise ConfigError(
                f"is {self.n_images}, too few to sample every class of a fold's "
                f"{len(labels)} test images ({exc}): raise it or leave it null",
                "perturb.n_images",
            ) from None
        return np.sort(chosen)

    def __call__(self, estimator, faces: Dataset, fold: Fold, dataset: Dataset, detector) -> dict:
        """{"positions": the scored test images (positions among the fold's primary test set, `sample`),
        "results": {perturbation: {severity: {"y_pred": [...], "detection_rate": ...}}}} in that order."""
        positions = self.sample(faces.labels[fold.tests[fold.primary]])
        idx = fold.tests[fold.primary][positions]
        ids = faces.ids[idx]
        if self.mode == "crop":
            images, layout = faces.images[idx], _layout(detector)
            perturbed = {
                c: np.stack(
                    [
                        P.apply(*c, image, P.rng_for(self.seed, *c, str(i)), layout=layout)
                        for image, i in zip(images, ids)
                    ]
                )
                for c in self.conditions()
            }
            out = {c: {"y_pred": np.asarray(estimator.predict(x))} for c, x in perturbed.items()}
        else:
            out = self._photos(estimator, ids, dataset, detector)
        results: dict = {}
        for (name, severity), result in out.items():
            results.setdefault(name, {})[str(severity)] = {
                "y_pred": [int(v) for v in result["y_pred"]],
                **({"detection_rate": result["detection_rate"]} if "detection_rate" in result else {}),
            }
        return {"positions": positions, "results": results}

    def _photos(self, estimator, ids: np.ndarray, dataset: Dataset, detector: FaceDetector) -> dict:
        """Image mode: perturb the test photos, detect and crop again, predict; a dropped face is wrong (-1)."""
        row = {i: n for n, i in enumerate(dataset.ids.tolist())}
        photos = dataset.subset(np.array([row[i] for i in ids.tolist()]))
        clean, _ = detector.detections(photos)
        squares = [
            detector._square(image.shape, clean.boxes[k], clean.eyes[k])[0] for k, image in enumerate(photos.images)
        ]
        size, layout, out = detector.size, _layout(detector), {}
        for condition in self.conditions():
            images = [
                P.apply(
                    *condition,
                    image,
                    P.rng_for(self.seed, *condition, str(i)),
                    layout=layout,
                    face=None if square is None else _crop_to_image(square, size),
                )
                for image, i, square in zip(photos.images, ids, squares)
            ]
            stack = np.empty(len(images), dtype=object)
            stack[:] = images
            crops, report = detector(Dataset(photos.name, stack, photos.labels, photos.ids))
            kept = {i: n for n, i in enumerate(crops.ids.tolist())}
            y_pred = np.full(len(ids), -1)
            if len(crops):
                predicted = np.asarray(estimator.predict(crops.images))
                y_pred = np.array([predicted[kept[i]] if i in kept else -1 for i in ids.tolist()])
            out[condition] = {"y_pred": y_pred, "detection_rate": report["detection_rate"]}
        return out


def _layout(detector) -> P.FaceLayout:
    """Where eyes and mouth are in the run's crops: from the margin of crops cut from the eyes, or the
    usual places in ready-made crops."""
    if isinstance(detector, FaceDetector) and detector.align:
        return P.FaceLayout.of_margin(detector.margin)
    return P.READY_MADE


def _crop_to_image(square, size: int):
    """(x, y) in fractions of a size x size crop of `square` -> the image's pixels."""
    matrix = square.to_image(size)
    return lambda x, y: tuple(matrix @ [x * size - 0.5, y * size - 0.5, 1.0])
