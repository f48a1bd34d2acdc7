"""Gabor filter bank: magnitude responses at several frequencies and orientations, averaged over
a grid of cells (the face representation of Lades et al. 1993 and, for expressions, Lyons et al.
1998, with cell means in place of responses sampled at fiducial points).

Each filter is exactly `skimage.filters.gabor_kernel(frequency, theta, bandwidth, n_stds=...)`,
and its response (real and imaginary parts) is what `skimage.filters.gabor` returns for the same
kernel and boundary mode, to float32 precision. Instead of two direct convolutions per image per
kernel (scipy.ndimage.convolve, as skimage does), the whole chunk of images is filtered by FFT:
the image is padded as ndimage pads it for the mode, transformed once, multiplied by every
precomputed kernel spectrum and transformed back.
"""

import functools

import numpy as np
import scipy.fft
from skimage.filters import gabor_kernel

from core import validation as check
from core.errors import ConfigError

from ._base import (
    StackTransformer,
    cell_index,
    check_grid,
    check_stack,
    chunks,
    to_unit_float,
)

# scipy.ndimage boundary modes (what skimage.filters.gabor passes on) and the numpy.pad mode that
# extends an image the same way, however wide the padding.
_PAD_MODES = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "wrap": "wrap", "constant": "constant"}

# Per-chunk working memory: the complex64 products and inverse transforms of every kernel.
_CHUNK_BYTES = 32 << 20


class GaborBank(StackTransformer):
    """Mean Gabor magnitude over a `grid` of cells, for every frequency and orientation.

    Intensities are scaled to [0, 1] first (uint8 / 255). Features are ordered by frequency,
    then orientation, then cell (row-major).

    Parameters
    ----------
    frequencies : tuple of float
        Spatial frequencies in cycles per pixel. The default is the half-octave bank of Lades et
        al. (wavelengths 4 to 16 pixels), suited to 48-96 pixel faces.
    n_orientations : int
        Orientations theta = k pi / n_orientations, k = 0 .. n - 1 (the magnitude does not change
        under theta + pi).
    bandwidth, n_stds : float
        As in `skimage.filters.gabor_kernel` (bandwidth in octaves sets the Gaussian's width; the
        kernel spans n_stds standard deviations).
    grid : tuple of int
        (rows, cols) cells the magnitude is averaged over.
    mode : str
        Boundary mode, as in `skimage.filters.gabor` / `scipy.ndimage.convolve` ("reflect",
        "mirror", "nearest", "wrap", or "constant" with zeros).
    n_jobs : int
        Threads for the FFTs (scipy.fft `workers`).
    """

    def __init__(
        self,
        frequencies=(0.25, 0.177, 0.125, 0.088, 0.0625),
        n_orientations=8,
        bandwidth=1.0,
        n_stds=3,
        grid=(6, 6),
        mode="reflect",
        n_jobs=1,
    ):
        self.frequencies = frequencies
        self.n_orientations = n_orientations
        self.bandwidth = bandwidth
        self.n_stds = n_stds
        self.grid = grid
        self.mode = mode
        self.n_jobs = n_jobs

    def responses(self, X) -> np.ndarray:
        """Complex responses, (N, n_frequencies * n_orientations, H, W) complex64: the real and
        imaginary parts are `skimage.filters.gabor`'s two outputs for each kernel."""
        return np.concatenate(list(self._filter(to_unit_float(check_stack(X)))), axis=0)

    def check_params(self) -> None:
        if isinstance(self.frequencies, (str, dict)) or len(self.frequencies) == 0:
            raise ConfigError(f"must be a list of positive numbers, got {self.frequencies!r}", "frequencies")
        for frequency in self.frequencies:
            check.number("frequencies", frequency, 0, low_open=True)
        check.number("n_orientations", self.n_orientations, 1, integer=True)
        check.number("bandwidth", self.bandwidth, 0, low_open=True)
        check.number("n_stds", self.n_stds, 0, low_open=True)
        check_grid(self.grid)
        check.choice("mode", self.mode, tuple(_PAD_MODES))

    def _transform(self, X):
        rows, cols = check_grid(self.grid)
        n, h, w = X.shape
        # Cell means as two small matrix products: pooled = row_pool @ magnitude @ col_pool.T
        row_pool, col_pool = _mean_pool_matrix(h, rows), _mean_pool_matrix(w, cols)
        pooled = [row_pool @ np.abs(response) @ col_pool.T for response in self._filter(to_unit_float(X))]
        return np.concatenate(pooled, axis=0).reshape(n, -1)

    def _filter(self, X: np.ndarray):
        """Yield the complex responses of consecutive chunks of the float32 stack X."""
        self.check_params()
        n, h, w = X.shape
        bank = _bank(
            tuple(float(f) for f in self.frequencies),
            int(self.n_orientations),
            float(self.bandwidth),
            float(self.n_stds),
            h,
            w,
        )
        bytes_per_image = sum(spectra.size for spectra, _ in bank) * 8
        for part in chunks(n, bytes_per_image, _CHUNK_BYTES):
            yield np.concatenate(
                [_filter_group(X[part], spectra, pad, _PAD_MODES[self.mode], self.n_jobs) for spectra, pad in bank],
                axis=1,
            )


@functools.lru_cache(maxsize=4)
def _bank(frequencies: tuple, n_orientations: int, bandwidth: float, n_stds: float, h: int, w: int) -> tuple:
    """Kernel spectra for (h, w) images: one group per frequency, as ((k, Lh, Lw) complex64
    spectra, (pad_rows, pad_cols)) pairs, cached per bank and image size.

    Each group gets its own FFT size: low frequencies have wide kernels and need wide padding,
    high frequencies do not. Within a group every kernel is centred in a box as large as the
    group's largest kernel (zeros around a kernel do not change its convolution), so one padded
    image serves them all.
    """
    thetas = np.arange(n_orientations) * np.pi / n_orientations
    bank = []
    for frequency in frequencies:
        kernels = [gabor_kernel(frequency, theta=theta, bandwidth=bandwidth, n_stds=n_stds) for theta in thetas]
        pad_rows = max(k.shape[0] for k in kernels) // 2
        pad_cols = max(k.shape[1] for k in kernels) // 2
        shape = (scipy.fft.next_fast_len(h + 2 * pad_rows), scipy.fft.next_fast_len(w + 2 * pad_cols))
        boxes = np.zeros((len(kernels), *shape), dtype=np.complex128)
        for box, kernel in zip(boxes, kernels):
            top, left = pad_rows - kernel.shape[0] // 2, pad_cols - kernel.shape[1] // 2
            box[top : top + kernel.shape[0], left : left + kernel.shape[1]] = kernel
        spectra = scipy.fft.fft2(boxes).astype(np.complex64)
        spectra.flags.writeable = False
        bank.append((spectra, (pad_rows, pad_cols)))
    return tuple(bank)


def _filter_group(X: np.ndarray, spectra: np.ndarray, pad: tuple, pad_mode: str, workers: int):
    """(n, k, H, W) complex64 responses of a chunk to one group of kernels.

    Padding by the group's half kernel size and convolving circularly over the FFT size leaves the
    linear convolution, free of wrap-around, at rows 2 * pad_rows .. and columns 2 * pad_cols ..
    The inverse 2-D FFT is done one axis at a time so that the second pass only transforms the
    rows that are kept.
    """
    _, h, w = X.shape
    pad_rows, pad_cols = pad
    padded = np.pad(X, ((0, 0), (pad_rows, pad_rows), (pad_cols, pad_cols)), mode=pad_mode)
    image_spectra = scipy.fft.fft2(padded, s=spectra.shape[1:], workers=workers)
    product = image_spectra[:, None] * spectra
    columns = scipy.fft.ifft(product, axis=-2, overwrite_x=True, workers=workers)
    valid_rows = columns[:, :, 2 * pad_rows : 2 * pad_rows + h]
    return scipy.fft.ifft(valid_rows, axis=-1, workers=workers)[..., 2 * pad_cols : 2 * pad_cols + w]


def _mean_pool_matrix(size: int, n_cells: int) -> np.ndarray:
    """(n_cells, size) float32 matrix whose product with a vector averages it over each cell."""
    members = (cell_index(size, n_cells) == np.arange(n_cells)[:, None]).astype(np.float32)
    return members / members.sum(axis=1, keepdims=True)
