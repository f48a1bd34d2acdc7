"""Raw pixels: the simplest baseline, every image resized to a small square and flattened."""

import cv2
import numpy as np

from ._base import StackTransformer, chunks, to_unit_float

# OpenCV resizes an image with up to this many channels in one call; the stack is fed to it as
# channels, (H, W, N), so there is no Python loop over images.
_CV_MAX_CHANNELS = 512


class PixelFeatures(StackTransformer):
    """Resize every image to `size` x `size` and flatten it to float32 intensities in [0, 1].

    Shrinking uses area averaging (cv2.INTER_AREA), which does not alias; enlarging uses bilinear
    interpolation. Resizing happens in float32, after scaling to [0, 1] (uint8 / 255), because
    OpenCV's fixed-point uint8 path rounds differently for multi-channel input: in float32 the
    result is the same as resizing each image on its own.
    """

    def __init__(self, size=24):
        self.size = size

    def _transform(self, X):
        size = int(self.size)
        if size < 1:
            raise ValueError(f"size must be a positive int, got {self.size!r}")
        n, h, w = X.shape
        out = np.empty((n, size * size), dtype=np.float32)
        interpolation = cv2.INTER_AREA if size <= min(h, w) else cv2.INTER_LINEAR
        for part in chunks(n, 1, budget=_CV_MAX_CHANNELS):
            channels = np.ascontiguousarray(to_unit_float(X[part]).transpose(1, 2, 0))
            resized = cv2.resize(channels, (size, size), interpolation=interpolation)
            # OpenCV drops the channel axis when there is a single channel.
            out[part] = resized.reshape(size, size, -1).transpose(2, 0, 1).reshape(-1, size * size)
        return out
