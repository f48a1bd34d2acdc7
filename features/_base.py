"""What every image-stack transformer shares: input checks, intensity scaling, resizing, the cell
grid features are pooled over, chunking, and the scikit-learn plumbing.

The transformers are stateless (nothing is learned from the training images), so `transform`
works without `fit`; `fit` only records what scikit-learn expects a fitted transformer to know
(the input image shape and the output width, which `get_feature_names_out` needs).
"""

from collections.abc import Iterator

import cv2
import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)

from core import validation as check


def check_stack(X) -> np.ndarray:
    """`X` as an (N, H, W) array of real, finite numbers, or a ValueError saying what is wrong.

    A 2-D input is refused rather than guessed at: it could be one image or N flattened ones.
    """
    X = np.asarray(X)
    if X.ndim != 3:
        raise ValueError(
            f"expected a stack of grayscale images of shape (N, H, W), got an array "
            f"of shape {X.shape}; wrap a single image as X[None]"
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(f"expected a numeric image stack, got dtype {X.dtype}")
    if min(X.shape) == 0:
        raise ValueError(f"empty image stack of shape {X.shape}")
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError("the image stack contains NaN or infinite values")
    return X


def to_unit_float(X: np.ndarray) -> np.ndarray:
    """Intensities as float32 in [0, 1]: unsigned integers are divided by their dtype's maximum
    (uint8 by 255); other dtypes are cast unchanged (floats are expected in [0, 1] already)."""
    if X.dtype.kind == "u":
        return np.divide(X, np.iinfo(X.dtype).max, dtype=np.float32)
    return X.astype(np.float32, copy=False)


def resize_stack(X: np.ndarray, size: int) -> np.ndarray:
    """Every image of the stack resized to `size` x `size`, same dtype.

    Shrinking uses area averaging (cv2.INTER_AREA), which does not alias; enlarging uses bilinear
    interpolation. One cv2.resize call per image: OpenCV's area resize takes at most 4 channels
    for non-integer scales, so the stack cannot go through as one multi-channel image, and a
    per-image call costs microseconds at these sizes.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if X.shape[1:] == (size, size):
        return X
    interpolation = cv2.INTER_AREA if size <= min(X.shape[1:]) else cv2.INTER_LINEAR
    out = np.empty((len(X), size, size), dtype=X.dtype)
    for i, image in enumerate(X):
        out[i] = cv2.resize(image, (size, size), interpolation=interpolation)
    return out


def cell_index(size: int, n_cells: int) -> np.ndarray:
    """For each of `size` pixels along one axis, the grid cell it falls in (cells as equal as
    integers allow; all feature extractors use this one split, so their grids agree)."""
    if not 1 <= n_cells <= size:
        raise ValueError(f"cannot split {size} pixels into {n_cells} grid cells")
    return np.arange(size) * n_cells // size


def check_grid(grid) -> tuple[int, int]:
    """`grid` as (rows, cols) of positive ints, or a ConfigError naming `grid`."""
    return tuple(check.numbers("grid", grid, 2, low=1, integer=True))


def chunks(n_images: int, cost_per_image: int, budget: int) -> Iterator[slice]:
    """Consecutive slices of a stack of `n_images`, each costing at most `budget` (at least one
    image each). Costs are bytes of working memory unless a caller says otherwise: chunking keeps
    a transform's memory bounded whatever N is, and its temporaries small enough to stay cached."""
    step = max(1, budget // max(1, cost_per_image))
    for start in range(0, n_images, step):
        yield slice(start, min(start + step, n_images))


class StackTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class: (N, H, W) image stack in, (N, D) float32 features out.

    Subclasses implement `_transform(X)` on an already checked stack, and `check_params()` when
    they have parameters to check (a bad value is a `ConfigError`, a ValueError, naming it).
    """

    def check_params(self) -> None:
        """Check the parameters (called by `fit` and `transform`, and by the runner before any work)."""

    def fit(self, X, y=None):
        """Record the image shape and output width; nothing is learned."""
        self.check_params()
        X = check_stack(X)
        self.image_shape_ = X.shape[1:]
        self._n_features_out = self._transform(X[:1]).shape[1]
        return self

    def transform(self, X) -> np.ndarray:
        """Features of every image in the stack, as an (N, D) float32 matrix. Once fitted, only images of
        the size it was fitted on (another size would give features of another scale, or width)."""
        self.check_params()
        X = check_stack(X)
        fitted = getattr(self, "image_shape_", None)
        if fitted is not None and X.shape[1:] != tuple(fitted):
            raise ValueError(
                f"{type(self).__name__} was fitted on {fitted[1]}x{fitted[0]} images and got "
                f"{X.shape[2]}x{X.shape[1]} ones: cut the faces at the same size"
            )
        return self._transform(X)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags
