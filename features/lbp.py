"""Local binary patterns (Ojala et al. 2002), histogrammed over a grid of cells (Ahonen et al.
2006; Shan et al. 2009 for expressions).

The codes are exactly those of `skimage.feature.local_binary_pattern` (its Cython
`_local_binary_pattern` in `skimage/feature/_texture.pyx`), computed for the whole stack at once
with numpy: one pass over the stack per neighbour instead of one Python call per image. Exact
equality needs skimage's arithmetic reproduced step by step, because a neighbour that equals the
centre in exact arithmetic can land just above or below it after interpolation rounding:

* neighbour offsets are `round(-R sin(2 pi p / P), 5)` and `round(R cos(2 pi p / P), 5)`;
* neighbour (r + dr, c + dc) is interpolated bilinearly in float64 as
  `(1 - fr) * ((1 - fc) * tl + fc * tr) + fr * ((1 - fc) * bl + fc * br)`, with the fractions
  `fr = (r + dr) - floor(r + dr)` computed per row (and `fc` per column): they differ in the last
  bits from row to row, so they cannot be computed once per neighbour;
* outside the image, pixels are 0 (constant mode, cval 0);
* a neighbour's bit is `neighbour - centre >= 0`;
* "uniform" counts 0/1 changes along p = 0..P-1 without the wrap-around pair (equivalent to the
  circular count for the <= 2 test, since a circular count is always even).
"""

import functools

import numpy as np

from core import validation as check
from core.errors import ConfigError

from ._base import StackTransformer, cell_index, check_grid, check_stack, chunks

METHODS = ("default", "ror", "uniform", "nri_uniform")

# Bytes of working memory per pixel of a chunk: the float64 padded image and interpolation
# temporaries, the P bits, the int64 codes and histogram indices. Sized to keep them in cache.
_BYTES_PER_PIXEL = 128
_CHUNK_BYTES = 8 << 20


def n_codes(P: int, method: str) -> int:
    """How many distinct codes (histogram bins) `method` produces with P neighbours; a ValueError
    for a method or P it cannot handle."""
    check.number("P", P, 1, integer=True)
    check.choice("method", method, METHODS)
    if method in ("default", "ror"):
        if P > 31:  # skimage's int32 codes overflow; 2**P bins are impractical long before
            raise ConfigError(f"must be <= 31 for method {method!r}, got {P}", "P")
        return 2**P
    if method == "uniform":
        return P + 2
    return P * (P - 1) + 3  # nri_uniform


def local_binary_pattern_stack(X, P: int, R: float, method: str = "default") -> np.ndarray:
    """LBP codes of every image of the (N, H, W) stack `X`: for each image, the same values as
    `skimage.feature.local_binary_pattern(image, P, R, method)`, as the smallest unsigned int
    dtype that holds them."""
    X = check_stack(X)
    dtype = np.min_scalar_type(n_codes(P, method) - 1)
    codes = np.empty(X.shape, dtype=dtype)
    for part in chunks(len(X), X[0].size * _BYTES_PER_PIXEL, _CHUNK_BYTES):
        codes[part] = _codes(X[part], int(P), R, method)
    return codes


def _codes(X: np.ndarray, P: int, R: float, method: str) -> np.ndarray:
    """LBP codes of a (n, H, W) chunk.

    The methods are defined once, on arrays of neighbour bits. For P <= 16 they are tabulated
    over all 2**P patterns and looked up by the 'default' code, which is much cheaper per pixel
    than evaluating them on the stack; for larger P they are evaluated on the stack itself.
    """
    n_codes(P, method)  # validates P and the method before any work
    bits = _neighbour_bits(X, P, R)
    if P <= _MAX_TABLE_BITS:
        return _code_table(P, method)[_weighted_code(bits)]
    return _PATTERNS[method](bits)


def _neighbour_bits(X: np.ndarray, P: int, R: float) -> np.ndarray:
    """(P, n, H, W) bools: neighbour p >= centre, the neighbour interpolated as skimage does.

    skimage thresholds `neighbour - centre >= 0`; for finite floats that is `neighbour >= centre`
    exactly (IEEE subtraction is exact in sign), one pass cheaper.
    """
    _, h, w = X.shape
    row_offsets, col_offsets = _neighbour_offsets(P, R)
    pad = int(np.ceil(max(np.abs(row_offsets).max(), np.abs(col_offsets).max())))
    padded = np.zeros((len(X), h + 2 * pad, w + 2 * pad))  # float64, zeros outside the image
    padded[:, pad : pad + h, pad : pad + w] = X
    centre = padded[:, pad : pad + h, pad : pad + w]

    # Interpolating along the columns first gives, for one column offset, the values of every
    # padded row: a neighbour's top and bottom rows are two row-shifted slices of it, and
    # neighbours sharing a column offset (mirror images across the horizontal axis) share it.
    # Each value is computed with the same operations as in skimage, so this changes nothing.
    along_columns = {}
    bits = np.empty((P, *X.shape), dtype=bool)
    for p, (row_offset, col_offset) in enumerate(zip(row_offsets, col_offsets)):
        if col_offset not in along_columns:
            lo, hi, fraction = _axis_sampling(w, col_offset)
            along_columns[col_offset] = _lerp(
                padded[:, :, pad + lo : pad + lo + w], padded[:, :, pad + hi : pad + hi + w], fraction
            )
        rows = along_columns[col_offset]
        lo, hi, fraction = _axis_sampling(h, row_offset)
        neighbour = _lerp(rows[:, pad + lo : pad + lo + h], rows[:, pad + hi : pad + hi + h], fraction[:, None])
        np.greater_equal(neighbour, centre, out=bits[p])
    return bits


def _neighbour_offsets(P: int, R: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) offsets of the P circle points, rounded as skimage rounds them."""
    R = float(R)  # skimage 0.26 uses R in double precision (checked against it, see the tests)
    angles = 2 * np.pi * np.arange(P, dtype=np.float64) / P
    return np.round(-R * np.sin(angles), 5), np.round(R * np.cos(angles), 5)


def _axis_sampling(size: int, offset: float) -> tuple[int, int, np.ndarray]:
    """Along one axis of length `size`, sampling at i + offset for every pixel i: the shifts of
    the lower and upper integer neighbours, and the interpolation fraction per pixel.

    The shifts are the same for every i: the offsets have 5 decimals, far coarser than the
    rounding of i + offset, so floor(i + offset) = i + floor(offset). The fractions are not, and
    are computed the way skimage computes them.
    """
    position = np.arange(size) + offset
    lower = np.floor(position)
    return int(np.floor(offset)), int(np.ceil(offset)), position - lower


def _lerp(a: np.ndarray, b: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """(1 - fraction) * a + fraction * b in skimage's order of operations. Where the fraction is
    zero everywhere (a neighbour on the pixel grid) that is exactly `a` (finite inputs), so it is
    skipped."""
    if not fraction.any():
        return a
    out = (1 - fraction) * a
    out += fraction * b
    return out


def _weighted_code(bits: np.ndarray) -> np.ndarray:
    """'default': bit p has weight 2**p (in the smallest unsigned dtype that holds the codes)."""
    code = np.zeros(bits.shape[1:], dtype=np.min_scalar_type(2 ** len(bits) - 1))
    for p, bit in enumerate(bits):
        code |= np.left_shift(bit, p, dtype=code.dtype)
    return code


def _rotation_invariant_code(bits: np.ndarray) -> np.ndarray:
    """'ror': the smallest code over the P circular bit rotations."""
    P = len(bits)
    code = _weighted_code(bits).astype(np.int64)
    best = code.copy()
    for _ in range(P - 1):
        code = (code >> 1) | ((code & 1) << (P - 1))
        np.minimum(best, code, out=best)
    return best


def _changes(bits: np.ndarray) -> np.ndarray:
    """Number of 0/1 transitions between consecutive bits p, p + 1 (no wrap-around)."""
    return np.count_nonzero(bits[:-1] != bits[1:], axis=0)


def _uniform_code(bits: np.ndarray) -> np.ndarray:
    """'uniform': the number of ones for uniform patterns (<= 2 changes), P + 1 otherwise."""
    P = len(bits)
    return np.where(_changes(bits) <= 2, np.count_nonzero(bits, axis=0), P + 1)


def _non_rotation_invariant_uniform_code(bits: np.ndarray) -> np.ndarray:
    """'nri_uniform': a separate code per uniform pattern and rotation, 1 + (ones - 1) * P +
    rotation; 0 for all zeros, P(P - 1) + 1 for all ones, P(P - 1) + 2 for non-uniform."""
    P = len(bits)
    n_ones = np.count_nonzero(bits, axis=0)
    first_one = bits.argmax(axis=0)
    first_zero = (~bits).argmax(axis=0)
    rotation = np.where(first_one == 0, n_ones - first_zero, P - first_one)
    code = 1 + (n_ones - 1) * P + rotation
    code[n_ones == 0] = 0
    code[n_ones == P] = P * (P - 1) + 1
    code[_changes(bits) > 2] = P * (P - 1) + 2
    return code


_PATTERNS = {
    "default": _weighted_code,
    "ror": _rotation_invariant_code,
    "uniform": _uniform_code,
    "nri_uniform": _non_rotation_invariant_uniform_code,
}

_MAX_TABLE_BITS = 16


@functools.cache
def _code_table(P: int, method: str) -> np.ndarray:
    """`method`'s code for each of the 2**P 'default' codes (bit patterns), read-only."""
    patterns = ((np.arange(2**P) >> np.arange(P)[:, None]) & 1).astype(bool)
    table = _PATTERNS[method](patterns).astype(np.min_scalar_type(n_codes(P, method) - 1))
    table.flags.writeable = False
    return table


class LBPHistogram(StackTransformer):
    """Histograms of LBP codes over a `grid` = (rows, cols) of cells, concatenated.

    Codes are computed on the raw intensities (no rescaling), as skimage does.

    Parameters
    ----------
    P, R : int, float
        Neighbours and radius of the circular neighbourhood (ignored when `scales` is set).
    method : str
        "default", "ror", "uniform" (P + 2 bins, the usual choice for faces) or "nri_uniform"
        (P(P - 1) + 3 bins). "default" and "ror" have 2**P bins, so keep P small.
    grid : tuple of int
        (rows, cols) cells; features are per cell, so the spatial layout of the face counts.
    scales : list of (int, float) or None
        (P, R) pairs; their histograms are concatenated in that order.
    normalize : bool
        Divide each cell histogram by the cell's pixel count (it then sums to 1), so features do
        not depend on the image size.
    power : float
        Exponent applied to every bin after normalizing. 0.5 is the Hellinger (square-root) map:
        linear and RBF kernels on it compare histograms the way the Bhattacharyya coefficient
        does, instead of letting the few large bins dominate.
    """

    def __init__(self, P=8, R=1.0, method="uniform", grid=(6, 6), scales=None, normalize=True, power=1.0):
        self.P = P
        self.R = R
        self.method = method
        self.grid = grid
        self.scales = scales
        self.normalize = normalize
        self.power = power

    def check_params(self) -> None:
        for P, R in self._scales():
            n_codes(P, self.method)
            check.number("R", R, 0, low_open=True)
        check_grid(self.grid)
        check.flag("normalize", self.normalize)
        check.number("power", self.power, 0, low_open=True)

    def _scales(self) -> list:
        """The (P, R) pairs: `scales`, or the one (P, R)."""
        if self.scales is None:
            return [(self.P, self.R)]
        if isinstance(self.scales, str) or any(isinstance(s, str) or len(s) != 2 for s in self.scales):
            raise ConfigError(f"must be a list of (P, R) pairs or null, got {self.scales!r}", "scales")
        return list(self.scales)

    def _transform(self, X):
        scales = self._scales()
        rows, cols = check_grid(self.grid)
        n, h, w = X.shape
        cells = cell_index(h, rows)[:, None] * cols + cell_index(w, cols)[None, :]
        cell_sizes = np.bincount(cells.ravel(), minlength=rows * cols)
        features = []
        for P, R in scales:
            n_bins = n_codes(P, self.method)
            hist = np.empty((n, rows * cols, n_bins), dtype=np.float32)
            for part in chunks(n, h * w * _BYTES_PER_PIXEL, _CHUNK_BYTES):
                codes = _codes(X[part], int(P), R, self.method)
                hist[part] = _cell_histograms(codes, cells, rows * cols, n_bins)
            if self.normalize:
                hist /= cell_sizes[:, None]
            if self.power != 1:
                np.power(hist, self.power, out=hist)
            features.append(hist.reshape(n, -1))
        return np.concatenate(features, axis=1)


def _cell_histograms(codes: np.ndarray, cells: np.ndarray, n_cells: int, n_bins: int):
    """(n, n_cells, n_bins) counts of each code in each cell, in one bincount for the chunk."""
    n = len(codes)
    index = (np.arange(n)[:, None, None] * n_cells + cells) * n_bins + codes
    return np.bincount(index.ravel(), minlength=n * n_cells * n_bins).reshape(n, n_cells, n_bins)
