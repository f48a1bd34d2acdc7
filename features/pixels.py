"""Raw pixels: the simplest baseline, every image resized to a small square and flattened."""

import cv2
import numpy as np

from ._base import StackTransformer, to_unit_float


class PixelFeatures(StackTransformer):
    """Resize every image to `size` x `size` and flatten it to float32 intensities in [0, 1].

    Shrinking uses area averaging (cv2.INTER_AREA), which does not alias; enlarging uses bilinear
    interpolation. One cv2.resize call per image: OpenCV's area resize takes at most 4 channels
    for non-integer scales, so the stack cannot go through as one multi-channel image, and a
    per-image call costs microseconds at these sizes.
    """

    def __init__(self, size=24):
        self.size = size

    def _transform(self, X):
        size = int(self.size)
        if size < 1:
            raise ValueError(f"size must be a positive int, got {self.size!r}")
        interpolation = cv2.INTER_AREA if size <= min(X.shape[1:]) else cv2.INTER_LINEAR
        X = to_unit_float(X)
        out = np.empty((len(X), size * size), dtype=np.float32)
        for i, image in enumerate(X):
            out[i] = cv2.resize(image, (size, size), interpolation=interpolation).ravel()
        return out
