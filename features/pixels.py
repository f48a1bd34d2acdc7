"""Raw pixels: the simplest baseline, every image resized to a small square and flattened."""

from core import validation as check

from ._base import StackTransformer, resize_stack, to_unit_float


class PixelFeatures(StackTransformer):
    """Resize every image to `size` x `size` (`resize_stack`) and flatten it to float32 intensities in [0, 1]."""

    def __init__(self, size=24):
        self.size = size

    def check_params(self) -> None:
        check.number("size", self.size, 1, integer=True)

    def _transform(self, X):
        return resize_stack(to_unit_float(X), self.size).reshape(len(X), -1)
