"""The classical feature transformers: equality with the scikit-image references they reproduce,
and their behaviour as scikit-learn estimators."""

import warnings

import cv2
import numpy as np
import pytest
import skimage.feature
import skimage.filters
from skimage import color, data, img_as_ubyte
from sklearn.base import clone
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from features import (
    GaborBank,
    HOGFeatures,
    LBPHistogram,
    PixelFeatures,
    local_binary_pattern_stack,
)

RNG = np.random.default_rng(0)
RANDOM = RNG.integers(0, 256, (4, 29, 35), dtype=np.uint8)
FACE = img_as_ubyte(color.rgb2gray(data.astronaut())[20:170, 160:270])[None]  # 150x110 face
# Few grey levels: many neighbours equal to their centre, where interpolation rounding decides.
PLATEAUS = (RNG.integers(0, 3, (3, 24, 24)) * 100).astype(np.uint8)
STACKS = {"random": RANDOM, "face": FACE, "plateaus": PLATEAUS}


def skimage_lbp(stack, P, R, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns on float images
        return np.stack([skimage.feature.local_binary_pattern(im, P, R, method) for im in stack])


# (P, R): on-grid and interpolated neighbours, radii over 1, P > 16 (no lookup table), P = 1.
@pytest.mark.parametrize("P, R", [(8, 1), (8, 1.5), (4, 1), (12, 2.5), (16, 2), (24, 3), (1, 1)])
@pytest.mark.parametrize("method", ["default", "ror", "uniform", "nri_uniform"])
@pytest.mark.parametrize("stack", STACKS)
def test_lbp_codes_equal_skimage(P, R, method, stack):
    if method in ("default", "ror") and P > 16:
        P = 18  # still past the lookup table, with a code range that stays practical
    X = STACKS[stack]
    np.testing.assert_array_equal(local_binary_pattern_stack(X, P, R, method), skimage_lbp(X, P, R, method))


def test_lbp_codes_equal_skimage_on_float_images():
    X = RNG.random((2, 20, 20))
    X[:, ::2] = 0.5  # ties again
    for method in ("default", "uniform", "nri_uniform"):
        np.testing.assert_array_equal(local_binary_pattern_stack(X, 8, 1.5, method), skimage_lbp(X, 8, 1.5, method))


def test_lbp_radius_is_used_in_double_precision():
    """A neighbour interpolated to (nearly) exactly the centre: its bit flips if the offsets are
    rounded from R in float32 instead of float64 (R = 0.50515 is where the two differ)."""
    R = 0.50515
    angle = 2 * np.pi / 8
    row_off, col_off = np.round(-R * np.sin(angle), 5), np.round(R * np.cos(angle), 5)
    fr, fc = (2 + row_off) - np.floor(2 + row_off), (2 + col_off) - np.floor(2 + col_off)
    image = np.zeros((5, 5))
    image[1, 2] = 1.0
    image[2, 3] = -(1 - fr) * (1 - fc) / (fr * fc)
    np.testing.assert_array_equal(
        local_binary_pattern_stack(image[None], 8, R), skimage_lbp(image[None], 8, R, "default")
    )


def cell_edges(size, n):
    """Cell boundaries, written independently of the implementation's cell_index."""
    return [-(-k * size // n) for k in range(n + 1)]


def test_lbp_histogram_equals_per_cell_numpy_histograms():
    X = np.concatenate([RANDOM, RANDOM // 100 * 100])
    rows, cols = 3, 4
    features = LBPHistogram(P=8, R=1, method="uniform", grid=(rows, cols), normalize=False)
    expected = []
    for codes in skimage_lbp(X, 8, 1, "uniform"):
        re, ce = cell_edges(X.shape[1], rows), cell_edges(X.shape[2], cols)
        expected.append(
            np.concatenate(
                [
                    np.histogram(codes[re[i] : re[i + 1], ce[j] : ce[j + 1]], bins=10, range=(0, 10))[0]
                    for i in range(rows)
                    for j in range(cols)
                ]
            )
        )
    np.testing.assert_array_equal(features.transform(X), np.array(expected))


def test_lbp_histogram_normalisation_and_scales():
    X = RANDOM
    single = [LBPHistogram(P=P, R=R, grid=(2, 3)).transform(X) for P, R in [(8, 1), (16, 2)]]
    multi = LBPHistogram(scales=[(8, 1), (16, 2)], grid=(2, 3)).transform(X)
    np.testing.assert_array_equal(multi, np.hstack(single))
    np.testing.assert_allclose(single[0].reshape(len(X), 6, 10).sum(axis=2), 1, rtol=1e-6)
    assert multi.shape == (len(X), 6 * 10 + 6 * 18)


GABOR_SMALL = dict(frequencies=(0.3, 0.1), n_orientations=3, bandwidth=1.2, n_stds=2.5)


def skimage_gabor(image, bank, mode):
    """skimage.filters.gabor's (real, imag) for every kernel of the bank, in the bank's order."""
    thetas = np.arange(bank["n_orientations"]) * np.pi / bank["n_orientations"]
    return [
        skimage.filters.gabor(image, f, theta=t, bandwidth=bank["bandwidth"], n_stds=bank["n_stds"], mode=mode)
        for f in bank["frequencies"]
        for t in thetas
    ]


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap", "constant"])
def test_gabor_responses_equal_skimage(mode):
    X = RANDOM[:2]
    responses = GaborBank(**GABOR_SMALL, mode=mode).responses(X)
    assert responses.dtype == np.complex64 and responses.shape == (2, 6, 29, 35)
    for image, response in zip(X, responses):
        for k, (real, imag) in enumerate(skimage_gabor(image / 255.0, GABOR_SMALL, mode)):
            scale = np.abs(real + 1j * imag).max()
            np.testing.assert_allclose(response[k].real, real, atol=1e-5 * scale)
            np.testing.assert_allclose(response[k].imag, imag, atol=1e-5 * scale)


def test_gabor_kernel_larger_than_image():
    """The default bank's lowest frequency has a 55x55 kernel: wider than a 20x23 image."""
    X = RANDOM[:1, :20, :23]
    bank = dict(frequencies=(0.0625,), n_orientations=2, bandwidth=1.0, n_stds=3)
    response = GaborBank(**bank).responses(X)[0]
    for k, (real, imag) in enumerate(skimage_gabor(X[0] / 255.0, bank, "reflect")):
        scale = np.abs(real + 1j * imag).max()
        np.testing.assert_allclose(response[k].real, real, atol=1e-5 * scale)
        np.testing.assert_allclose(response[k].imag, imag, atol=1e-5 * scale)


def test_gabor_features_are_cell_means_of_the_magnitude():
    X = RANDOM[:2]
    rows, cols = 2, 3
    features = GaborBank(**GABOR_SMALL, grid=(rows, cols)).transform(X)
    re, ce = cell_edges(29, rows), cell_edges(35, cols)
    for image, row in zip(X, features):
        pairs = skimage_gabor(image / 255.0, GABOR_SMALL, "reflect")
        magnitudes = [np.hypot(real, imag) for real, imag in pairs]
        expected = [
            m[re[i] : re[i + 1], ce[j] : ce[j + 1]].mean() for m in magnitudes for i in range(rows) for j in range(cols)
        ]
        np.testing.assert_allclose(row, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_hog_equals_skimage(n_jobs):
    X = RNG.integers(0, 256, (3, 48, 40), dtype=np.uint8)
    features = HOGFeatures(orientations=8, pixels_per_cell=(8, 8), cells_per_block=(2, 2), n_jobs=n_jobs).transform(X)
    expected = [
        skimage.feature.hog(im, orientations=8, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")
        for im in X
    ]
    np.testing.assert_allclose(features, np.array(expected, dtype=np.float32))


@pytest.mark.parametrize("size", [12, 48])  # shrinking (area) and enlarging (bilinear)
def test_pixels_equal_per_image_resize(size):
    X = RANDOM
    interpolation = cv2.INTER_AREA if size < 29 else cv2.INTER_LINEAR
    expected = [cv2.resize(im.astype(np.float32) / 255, (size, size), interpolation=interpolation) for im in X]
    features = PixelFeatures(size=size).transform(X)
    np.testing.assert_allclose(features, np.array(expected).reshape(len(X), -1), rtol=1e-6)
    assert features.min() >= 0 and features.max() <= 1


def test_pixels_shrink_a_large_stack_by_a_non_integer_factor():
    """256 -> 24 over more than 4 images: OpenCV's area resize refuses that as one multi-channel call."""
    X = np.random.default_rng(1).integers(0, 256, (6, 256, 256), dtype=np.uint8)
    expected = [cv2.resize(im.astype(np.float32) / 255, (24, 24), interpolation=cv2.INTER_AREA) for im in X]
    np.testing.assert_allclose(PixelFeatures(size=24).transform(X), np.reshape(expected, (6, -1)), rtol=1e-6)


TRANSFORMERS = {
    "pixels": PixelFeatures(size=16),
    "lbp": LBPHistogram(P=8, R=1, grid=(4, 4)),
    "gabor": GaborBank(frequencies=(0.25, 0.125), n_orientations=4, grid=(4, 4)),
    "hog": HOGFeatures(),
    "lbp+gabor": FeatureUnion(
        [("lbp", LBPHistogram(grid=(4, 4))), ("gabor", GaborBank(frequencies=(0.2,), grid=(4, 4)))]
    ),
}
WIDTHS = {"pixels": 256, "lbp": 160, "gabor": 128, "hog": 324, "lbp+gabor": 160 + 128}


def blobs(n, seed):
    """Noisy 32x32 images with a bright blob in the upper (class 1) or lower (class 0) half."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    yy, xx = np.mgrid[:32, :32]
    rows = np.where(y == 1, rng.integers(5, 11, n), rng.integers(21, 27, n))
    cols = rng.integers(8, 24, n)
    blob = np.exp(-((yy - rows[:, None, None]) ** 2 + (xx - cols[:, None, None]) ** 2) / 32)
    X = rng.uniform(0, 40, (n, 32, 32)) + 200 * blob
    return X.astype(np.uint8), y


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_in_a_pipeline(name):
    X, y = blobs(60, seed=1)
    X_test, y_test = blobs(30, seed=2)
    model = make_pipeline(TRANSFORMERS[name], StandardScaler(), LinearSVC(C=0.1))
    assert model.fit(X, y).score(X_test, y_test) >= 0.9


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_shape_and_dtype(name):
    X = RNG.integers(0, 256, (5, 32, 32), dtype=np.uint8)
    features = TRANSFORMERS[name].transform(X)  # stateless: no fit needed
    assert features.shape == (5, WIDTHS[name]) and features.dtype == np.float32
    fitted = clone(TRANSFORMERS[name]).fit(X)
    assert len(fitted.get_feature_names_out()) == WIDTHS[name]


@pytest.mark.parametrize(
    "transformer",
    [
        PixelFeatures(size=20),
        LBPHistogram(P=4, R=2.0, method="ror", grid=[3, 2], normalize=False),
        LBPHistogram(scales=[[8, 1], [16, 2]]),
        GaborBank(frequencies=[0.2], mode="wrap", n_jobs=2),
        HOGFeatures(orientations=6, pixels_per_cell=[4, 4], block_norm="L1", n_jobs=2),
    ],
)
def test_clone_round_trip(transformer):
    X = RNG.integers(0, 256, (3, 24, 24), dtype=np.uint8)
    twin = clone(transformer)
    assert twin.get_params() == transformer.get_params()
    np.testing.assert_array_equal(twin.fit_transform(X), transformer.transform(X))
    assert twin.image_shape_ == (24, 24)


@pytest.mark.parametrize("name", ["pixels", "gabor"])
def test_uint8_and_unit_float_images_agree(name):
    X = RNG.integers(0, 256, (3, 32, 32), dtype=np.uint8)
    np.testing.assert_allclose(
        TRANSFORMERS[name].transform(X / 255.0), TRANSFORMERS[name].transform(X), rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize("name", ["pixels", "lbp", "gabor", "hog"])
@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((32, 32)),
        np.zeros((2, 32, 32, 3)),
        np.full((2, 32, 32), np.nan),
        np.zeros((0, 32, 32)),
        np.full((2, 32, 32), "a"),
    ],
)
def test_bad_input_raises(name, bad):
    with pytest.raises(ValueError):
        TRANSFORMERS[name].transform(bad)


@pytest.mark.parametrize(
    "transformer",
    [
        LBPHistogram(method="var"),
        LBPHistogram(P=0),
        LBPHistogram(P=32, method="default"),
        LBPHistogram(P=7.5),
        LBPHistogram(grid=(0, 2)),
        LBPHistogram(grid=(64, 2)),
        GaborBank(mode="edge"),
        GaborBank(frequencies=()),
        GaborBank(n_orientations=0),
        GaborBank(grid=(2,)),
        PixelFeatures(size=0),
    ],
)
def test_bad_parameters_raise(transformer):
    with pytest.raises(ValueError):
        transformer.transform(RANDOM)
