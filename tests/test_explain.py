"""Explanations: the models' feature maps, the three heat-map methods, and pasting a map onto a photo.

Correctness is checked where the answer is known: a stand-in model that reads only one region of
the crop (occlusion and LIME must find it), a synthetic photo with one bright blob (to_image must
put the map back on it), and, on a real face, whether hiding the top region of a map lowers the
FER2013 fernet of seed 0's prediction more than hiding random regions does. One CPU thread throughout.
"""

import copy
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from benchmark.classifiers import RBFSVM
from benchmark.datasets.synthetic import Synthetic
from benchmark.faces.geometry import Square, cut
from benchmark.inference.explain import (
    EXPLAINERS,
    explain,
    gradcam,
    has_gradcam,
    lime,
    occlusion,
    overlay,
    to_image,
)
from benchmark.methods import FeatureClassifier
from core.composites import Average, LogitAdjust
from core.errors import ConfigError
from core.labels import CLASS_NAMES, HAPPY
from deep.estimator import CNNClassifier
from deep.models import create_model, feature_layer, list_models
from features import HOGFeatures

#: the FER2013 fernet of seed 0 (shipped when the faithfulness tests were written; the xfail below is its)
SEED0 = Path(__file__).resolve().parent.parent / "results/models/fer2013__fernet/fit-000/model.pt"
REGION = (slice(30, 40), slice(10, 20))  # the only pixels the stand-in model reads


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- models: forward_features, forward_head, feature_layer ---------------------------------------
def _buildable_models() -> list[str]:
    names = []
    for name in list_models():
        try:
            create_model(name, 3)
        except ConfigError as exc:  # the torchvision backbones, where torchvision is absent
            assert "torchvision" in str(exc)
            continue
        names.append(name)
    return names


@pytest.mark.parametrize("name", _buildable_models())
def test_forward_is_head_of_features_and_feature_layer_outputs_them(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3).eval()
    x = torch.randn(2, 1, 32, 32)
    seen = []
    hook = model.get_submodule(feature_layer(name)).register_forward_hook(lambda m, i, out: seen.append(out.clone()))
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)
    hook.remove()
    assert features.ndim == 4 and len(features) == 2 and logits.shape == (2, 3)
    with torch.no_grad():
        assert torch.equal(model.forward_head(features), logits)
    assert torch.equal(seen[0], features)


# ---- the three methods on a small fitted CNN -------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    data = Synthetic(n_subjects=4, per_class=2).load()
    est = CNNClassifier(epochs=1, batch_size=16, n_jobs=1, verbose=0, bf16=False, tta="none", val_fraction=0)
    return est.fit(data.images, data.labels), data.images[::9][:3]


@pytest.mark.parametrize("method", list(EXPLAINERS))
def test_explainers_give_maps_in_0_1(small, method):
    est, crops = small
    targets = np.array([0, 3, 6])
    options = {"lime": {"num_samples": 60}, "occlusion": {"stride": 8}}.get(method, {})
    maps = explain(method, est, crops, targets, **options)
    assert maps.shape == crops.shape and maps.dtype == np.float32
    assert maps.min() >= 0 and all(m.max() in (0, 1) for m in maps)
    direct = EXPLAINERS[method](est if method == "gradcam" else est.predict_proba, crops, targets, **options)
    np.testing.assert_array_equal(maps, direct)


def test_gradcam_is_the_papers_formula_on_forward_features(small):
    """relu(sum over channels of A * the spatial mean of d logit / dA), A = forward_features (not
    captum's hook on the registry's feature_layer), upsampled bilinearly and scaled to [0, 1]."""
    est, crops = small
    targets = torch.tensor([2, 4, 5])
    x = ((torch.from_numpy(crops).float() - est.mean_) / est.std_).unsqueeze(1)
    model = est.model_.eval()
    features = model.forward_features(x).detach().requires_grad_()
    model.forward_head(features).gather(1, targets[:, None]).sum().backward()
    cam = torch.relu((features.grad.mean((2, 3), keepdim=True) * features).sum(1, keepdim=True)).detach()
    cam = torch.nn.functional.interpolate(cam, size=crops.shape[1:], mode="bilinear")[:, 0].numpy()
    peak = cam.max(axis=(1, 2), keepdims=True)
    assert (peak > 0).any()
    expected = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)  # a map with no positive evidence: 0
    np.testing.assert_allclose(gradcam(est, crops, targets.numpy()), expected, atol=1e-5)


def test_gradcam_resizes_to_the_models_input_and_back(small):
    est, crops = small
    resized = copy.deepcopy(est).set_params(image_size=32)  # fernet is fully convolutional
    maps = gradcam(resized, crops, [1, 1, 1])
    assert maps.shape == crops.shape and maps.max() == 1


def test_explainers_refuse_bad_inputs(small):
    est, crops = small
    with pytest.raises(ConfigError, match="method must be one of gradcam | occlusion | lime"):
        explain("saliency", est, crops, [0, 0, 0])
    with pytest.raises(ConfigError, match="Grad-CAM explains a CNN"):
        gradcam(object(), crops, [0, 0, 0])
    with pytest.raises(ValueError, match="class indices 0..6"):
        gradcam(est, crops, [0, 7, 0])
    with pytest.raises(ValueError, match="one integer class index per crop"):
        occlusion(est.predict_proba, crops, [0, 1])
    with pytest.raises(ValueError, match="uint8 stack of square"):
        occlusion(est.predict_proba, crops.astype(np.float32), [0, 0, 0])
    with pytest.raises(ConfigError, match="window must be an integer"):
        occlusion(est.predict_proba, crops, [0, 0, 0], window=0)


def test_gradcam_of_a_logit_adjusted_cnn_is_the_cnns_and_of_an_average_the_mean_of_its_members(small):
    """The adjustment adds a constant to each class's log-probability (the same gradients); an average's
    map is the mean of its members' maps, a member's columns found by class code (core.composites)."""
    est, crops = small
    targets = np.array([0, 3, 6])
    adjusted = LogitAdjust(est, np.full(7, 1 / 7) + np.arange(7) / 100, 0.5)
    assert has_gradcam(adjusted) and not has_gradcam(object())
    np.testing.assert_array_equal(gradcam(adjusted, crops, targets), gradcam(est, crops, targets))
    other = copy.deepcopy(est)
    with torch.no_grad():
        for p in other.model_.parameters():
            p.mul_(0.9).add_(0.01)
    average = Average([est, other])
    expected = (gradcam(est, crops, targets) + gradcam(other, crops, targets)) / 2
    expected /= expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(gradcam(average, crops, targets), expected, atol=1e-6)
    assert has_gradcam(average) and has_gradcam(LogitAdjust(average, np.full(7, 1 / 7), 1.0))
    reversed_ = copy.copy(other)
    reversed_.classes_ = est.classes_[::-1]  # the second's columns in reverse order
    reverse = gradcam(other, crops, 6 - targets)
    expected = (gradcam(est, crops, targets) + reverse) / 2
    np.testing.assert_allclose(
        gradcam(Average([est, reversed_]), crops, targets),
        expected / expected.max(axis=(1, 2), keepdims=True),
        atol=1e-6,
    )
    mixed_member = copy.copy(other)
    mixed_member.classes_ = np.r_[est.classes_[::-1][:-1], 7]  # no angry, contempt instead: angry gets the first's map
    mixed = Average([est, mixed_member])
    targets = np.searchsorted(mixed.classes_, [CLASS_NAMES.index(c) for c in ("angry", "happy", "contempt")])
    first = gradcam(est, crops[:2], [0, 3])
    second = gradcam(other, crops[1:], [3, 6])  # happy and contempt in its reversed columns
    expected = np.stack([first[0], (first[1] + second[0]) / 2, second[1]])
    np.testing.assert_allclose(
        gradcam(mixed, crops, targets), expected / expected.max(axis=(1, 2), keepdims=True), atol=1e-6
    )

    class NotACNN:  # a member Grad-CAM does not explain (an SVM's, say): refused before any work
        classes_ = est.classes_

        def predict_proba(self, X):
            return np.full((len(X), 7), 1 / 7)

    assert not has_gradcam(Average([est, NotACNN()]))
    with pytest.raises(ConfigError, match="Grad-CAM explains a CNN .* an average with a member that is not one"):
        gradcam(Average([est, NotACNN()]), crops, targets)


def test_explain_defaults_to_the_predicted_class(small):
    est, crops = small
    predicted = est.predict_proba(crops).argmax(1)
    np.testing.assert_array_equal(explain("gradcam", est, crops), gradcam(est, crops, predicted))


# ---- model-agnostic methods find what a model reads ------------------------------------------------
def _region_model(X: np.ndarray) -> np.ndarray:
    """P(class 1) rises with the brightness of REGION; nothing else is read."""
    z = (np.asarray(X, np.float32)[:, REGION[0], REGION[1]].mean((1, 2)) - 120) / 20
    p = 1 / (1 + np.exp(-z))
    return np.stack([1 - p, p], 1)


def _region_crops(n: int = 2) -> np.ndarray:
    crops = np.random.default_rng(0).normal(80, 10, (n, 48, 48)).clip(0, 255).astype(np.uint8)
    crops[:, REGION[0], REGION[1]] = 220
    return crops


def test_occlusion_finds_the_region_a_model_reads():
    crops = _region_crops()
    maps = occlusion(_region_model, crops, [1, 1])
    for m in maps:
        assert np.unravel_index(m.argmax(), m.shape) in {(y, x) for y in range(30, 40) for x in range(10, 20)}
        far = np.ones(m.shape, bool)
        far[30 - 7 : 40 + 7, 10 - 7 : 20 + 7] = False  # no 8x8 window over these pixels touches the region
        assert (m[far] == 0).all() and m[REGION].min() > 0
    assert (occlusion(_region_model, crops, [0, 0]) == 0).all()  # hiding the region only lowers class 1


def test_lime_finds_the_region_and_is_deterministic_for_a_seed():
    crops = _region_crops()
    maps = lime(_region_model, crops, [1, 1], num_samples=200, seed=0)
    for m in maps:
        assert m[REGION].mean() > 0.9 and m.sum() < 2 * m[REGION].sum()  # most of the map on the region
    np.testing.assert_array_equal(lime(_region_model, crops, [1, 1], num_samples=200, seed=0), maps)
    np.testing.assert_array_equal(lime(_region_model, crops[1:], [1], num_samples=200, seed=0), maps[1:])
    crop = np.random.default_rng(1).integers(0, 256, (1, 48, 48), dtype=np.uint8)
    other = [lime(_region_model, crop, [1], num_samples=60, seed=s) for s in (0, 1)]
    assert not np.array_equal(*other)


def test_model_agnostic_methods_explain_a_classical_svm_pipeline():
    data = Synthetic(n_subjects=4, per_class=2).load()
    svm = FeatureClassifier(HOGFeatures(), RBFSVM()).fit(data.images, data.labels)  # decision_function only
    crops = data.images[[0, 30]]
    for method, options in (("occlusion", {"stride": 8}), ("lime", {"num_samples": 60})):
        maps = explain(method, svm, crops, **options)
        assert maps.shape == crops.shape and maps.dtype == np.float32 and maps.max() == 1
    with pytest.raises(ConfigError, match="Grad-CAM explains a CNN"):
        explain("gradcam", svm, crops)


# ---- faithfulness on a real face -------------------------------------------------------------------
@pytest.fixture(scope="module")
def astronaut():
    """The FER2013 fernet of seed 0 and a 48x48 crop of the smiling face in scikit-image's astronaut
    photo (Eileen Collins, NASA: public domain), framed from OpenCV's Haar face box."""
    image = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    x, y, w, h = max(cascade.detectMultiScale(image, 1.1, 5, minSize=(80, 80)), key=lambda box: box[2] * box[3])
    assert 140 <= x and x + w <= 320 and 20 <= y and y + h <= 220  # the face, not the flag or the badge
    crop = cut(image, Square(x + (w - 1) / 2, y + (h - 1) / 2, 1.1 * w), 48)
    est = CNNClassifier.load(SEED0).set_params(tta="none", bf16=False, n_jobs=1)
    return est, crop


WINDOW, N_RANDOM = 8, 20


def _hiding_drops(est, crop: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The drop in the predicted class's probability when each WINDOW-square (top-left corners
    (K, 2)) is filled with the crop's mean grey."""
    p = est.predict_proba(crop[None])[0]
    copies = np.repeat(crop[None], len(corners), axis=0)
    for copy_, (y, x) in zip(copies, corners):
        copy_[y : y + WINDOW, x : x + WINDOW] = round(crop.mean())
    return p.max() - est.predict_proba(copies)[:, p.argmax()]


def _top_window(heat: np.ndarray) -> tuple[int, int]:
    """Top-left corner of the WINDOW-square holding the most heat (the first one on ties)."""
    n = heat.shape[0] - WINDOW + 1
    sums = cv2.boxFilter(
        heat.astype(np.float32), -1, (WINDOW, WINDOW), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
    )[:n, :n]
    return np.unravel_index(sums.argmax(), sums.shape)


def _z_of_top_region(est, crop: np.ndarray, heat: np.ndarray) -> float:
    """How many standard deviations the drop from hiding the map's top region lies above the mean
    drop from hiding N_RANDOM random regions of the same size (seeded, the same for every map)."""
    corners = np.random.default_rng(0).integers(0, crop.shape[0] - WINDOW + 1, (N_RANDOM, 2))
    random_drops = _hiding_drops(est, crop, corners)
    top_drop = _hiding_drops(est, crop, np.array([_top_window(heat)]))[0]
    return float((top_drop - random_drops.mean()) / random_drops.std())


def test_the_seed0_model_sees_a_happy_face(astronaut):
    est, crop = astronaut
    assert est.classes_[est.predict_proba(crop[None]).argmax()] == HAPPY


GRADCAM_MISSES = (
    "Grad-CAM on fernet's last stage (6x6) peaks on the nose and upper lip, one cell above the "
    "mouth: hiding that region raises P(happy) (z about -1.8), where occlusion and LIME point at the "
    "mouth. Expected to fail; strict, so it reports when the model or the method changes that."
)


@pytest.mark.parametrize(
    "method", [pytest.param("gradcam", marks=pytest.mark.xfail(strict=True, reason=GRADCAM_MISSES)), "occlusion"]
)
def test_hiding_the_top_region_of_a_map_lowers_the_prediction(astronaut, method):
    """The map's top WINDOW-square, hidden, lowers the predicted class's probability by at least 2
    standard deviations more than the mean of random squares. Merely "more than the mean" would
    pass for 45 % of random maps on this crop; this passes for about 5 % of them, and for none of
    the uninformative maps below."""
    est, crop = astronaut
    target = est.predict_proba(crop[None]).argmax(1)
    heat = explain(method, est, crop[None], target)[0]
    assert _z_of_top_region(est, crop, heat) >= 2


def test_the_faithfulness_check_rejects_uninformative_maps(astronaut):
    est, crop = astronaut
    rng = np.random.default_rng(1)
    maps = [np.ones(crop.shape, np.float32)] + [rng.random(crop.shape, np.float32) for _ in range(5)]
    assert all(_z_of_top_region(est, crop, heat) < 2 for heat in maps)


# ---- back onto the photo ---------------------------------------------------------------------------
def test_to_image_puts_a_crops_map_back_where_the_crop_was_cut():
    image = np.zeros((200, 300), np.uint8)
    blob = (190, 80)  # x, y
    cv2.circle(image, blob, 4, 255, -1)
    square = Square(cx=170.0, cy=95.0, side=90.0, angle=25.0)  # the blob off-centre, the square rotated
    crop = cut(image, square, 48)
    heat = np.zeros((48, 48), np.float32)
    heat[np.unravel_index(crop.argmax(), crop.shape)] = 1
    pasted = to_image(heat, square.to_image(48), image.shape)
    assert pasted.shape == image.shape and pasted.dtype == np.float32
    y, x = np.unravel_index(pasted.argmax(), pasted.shape)
    assert np.hypot(x - blob[0], y - blob[1]) <= 4
    covered = to_image(np.ones((48, 48), np.float32), square.to_image(48), image.shape)
    assert covered.sum() == pytest.approx(90**2, rel=0.03)  # the square's area, nothing outside it
    assert covered[95, 170] == 1
    assert covered[:, :100].max() == 0 and covered[:, 240:].max() == 0  # its corners reach x = 106 to 234


def test_overlay_colours_only_where_there_is_heat():
    image = np.full((20, 30, 3), 100, np.uint8)
    heat = np.zeros((20, 30), np.float32)
    heat[5:10, 5:10] = 1
    out = overlay(image, heat, alpha=0.5)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert (out[heat == 0] == 100).all() and (out[heat > 0] != 100).any(axis=1).all()
    with pytest.raises(ValueError, match="uint8 RGB image"):
        overlay(image, heat[:10])


def test_predict_offers_the_methods_in_the_pages_order():
    """predict's explain= choices are written out (its --help must not import the explainers): the same
    methods, in EXPLAINERS' order, the faithful one first."""
    from benchmark.predict import OPTIONS

    assert next(o for o in OPTIONS if o.name == "explain").choices == tuple(EXPLAINERS)
