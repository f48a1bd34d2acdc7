"""`detector=none`: the images are already face crops (FER2013, CK+48, synthetic).

`NoDetector` is the benchmark's (a data set of crops); `WholeImage` the applications' (predict, serve,
the page: each photo is one ready-made crop, classified whole).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from benchmark.datasets.base import Dataset
from benchmark.faces.base import FaceDetector, Found
from benchmark.faces.geometry import resize
from core import validation as check
from core.errors import ConfigError


class NoDetector:
    """The images are already face crops: stack them, resizing to `size` when given."""

    def __init__(self, size: int | None = None):
        self.size = check.number("size", size, 8, integer=True, optional=True)

    def __call__(self, dataset: Dataset) -> tuple[Dataset, dict]:
        images = dataset.images
        if self.size is not None:
            images = np.stack([resize(im, self.size) for im in images])
        elif images.dtype == object:
            shapes = sorted({im.shape for im in images})
            raise ConfigError(
                f"{dataset.name}: images come in several sizes {shapes[:4]}; "
                f"choose a detector (detector=haar or detector=mtcnn) or set detector.size"
            )
        out = dataclasses.replace(dataset, images=images)
        return out, {"detector": "none", "size": self.size, "n_images": len(out), "detection_rate": None}


class WholeImage(FaceDetector):
    """The face stage "none" of the applications: every image is one ready-made face crop, classified
    whole. `find` gives one face, the whole image (box (0, 0, W, H), no eyes, score 0: no detector
    looked for it); `crop` gives the whole image padded to a square, never stretched
    (`FaceDetector.crop_whole`), with the stage's size and preprocessing; the other crop settings
    (margin, align, ...) have nothing to act on."""

    name = "none"

    def find(self, image: np.ndarray) -> Found:
        h, w = image.shape[:2]
        return Found(np.array([[0.0, 0.0, w, h]]), np.full((1, 4), np.nan), np.zeros(1))

    def crop(self, image: np.ndarray, box=None, eyes=None):
        """The whole `image` as the crop, whatever `box` and `eyes` say (see `FaceDetector.crop_whole`)."""
        return self.crop_whole(image)
