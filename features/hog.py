"""Histograms of oriented gradients (Dalal & Triggs 2005), by `skimage.feature.hog` itself.

This one is the reference implementation wrapped, not a reimplementation: it runs once per image,
and `n_jobs` spreads the images over processes.
"""

import joblib
import numpy as np
from skimage.feature import hog

from core import validation as check

from ._base import StackTransformer

#: skimage.feature.hog's block normalisations
BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")


class HOGFeatures(StackTransformer):
    """`skimage.feature.hog(image, orientations, pixels_per_cell, cells_per_block, block_norm)`
    of every image, as float32 rows.

    The output width depends on the image size (one block descriptor per block position), so fit
    and transform on images of one size. Images are used as they are: the block normalisation
    makes the descriptor (nearly) independent of the intensity scale.
    """

    def __init__(self, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys", n_jobs=1):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.n_jobs = n_jobs

    def check_params(self) -> None:
        check.number("orientations", self.orientations, 1, integer=True)
        check.numbers("pixels_per_cell", self.pixels_per_cell, 2, low=1, integer=True)
        check.numbers("cells_per_block", self.cells_per_block, 2, low=1, integer=True)
        check.choice("block_norm", self.block_norm, BLOCK_NORMS)

    def _transform(self, X):
        params = dict(
            orientations=self.orientations,
            pixels_per_cell=tuple(self.pixels_per_cell),
            cells_per_block=tuple(self.cells_per_block),
            block_norm=self.block_norm,
        )
        n_parts = min(len(X), joblib.effective_n_jobs(self.n_jobs))
        if n_parts == 1:  # no worker processes to start
            return _hog_stack(X, params)
        parts = joblib.Parallel(n_jobs=self.n_jobs)(
            joblib.delayed(_hog_stack)(part, params) for part in np.array_split(X, n_parts)
        )
        return np.concatenate(parts)


def _hog_stack(X: np.ndarray, params: dict) -> np.ndarray:
    """HOG descriptors of a stack, one image after the other."""
    return np.stack([hog(image, **params) for image in X]).astype(np.float32)
