"""`detector=none`: the images are already face crops (FER2013, CK+48, synthetic)."""

from __future__ import annotations

import dataclasses

import numpy as np

from benchmark.datasets.base import Dataset
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
