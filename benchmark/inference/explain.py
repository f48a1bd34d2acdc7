"""Heat maps of where a model finds the evidence for a class in a face crop, and their overlay on a photo.

Three methods, from the most to the least model-specific:

- `gradcam`, Grad-CAM (Selvaraju et al. 2017, arXiv 1610.02391): the gradients of the class score
  weigh the channels of the CNN's last feature map (the registry's `feature_layer`). One forward
  and backward pass; only for our CNNs, and coarse: the map is 6x6 for fernet at 48x48, upsampled.
- `occlusion`, occlusion sensitivity (Zeiler & Fergus 2014, arXiv 1311.2901): how much the class
  probability drops when a grey square hides each place. It needs only `predict_proba` (or, for
  the RBF SVMs, which have none, `decision_function`: `class_scores`), so it explains every method,
  the classical feature + SVM pipelines included, at the cost of one prediction per position (121
  per crop at the defaults).
- `lime`, LIME (Ribeiro et al. 2016, arXiv 1602.04938): a linear model of the class probability
  over which of ~40 SLIC superpixels are shown, fitted to ~1000 random maskings. Model-agnostic too,
  the slowest, and random: reproducible for a given seed.

Every method takes the face crops as the model's `predict_proba` takes them, uint8 (N, S, S), and
per crop the class to explain, as an index into `classes_` (a column of predict_proba); it returns
float32 maps (N, S, S) in [0, 1], 1 where the evidence for that class is strongest. Each map is
scaled by its own maximum, so maps compare within a crop, not across crops; a map with no positive
evidence stays all zero. `explain` picks a method by name; `to_image` pastes a crop's map back onto
the photo it was cut from and `overlay` colours the photo with it.

A map shows where the evidence lies, not what it is, and the methods see at different scales (the
feature map's cells, the occlusion window, the superpixels). They can disagree, and a map can look
plausible without being faithful: on a real smiling face (tests/test_explain.py) hiding the top
8x8 region of the occlusion map (the mouth, where LIME's points too) lowers the FER2013
fernet's (seed 0) P(happy) far more than hiding random regions, but hiding the top region of its Grad-CAM
map (nose and upper lip: the last stage is 6x6, and each cell's receptive field spans the whole
crop) raises it. Prefer occlusion when the question is what the prediction depends on. torch,
captum and lime are imported only by the methods that use them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial
from unittest import mock

import cv2
import numpy as np
from sklearn.utils.validation import check_is_fitted

from core import validation as check
from core.composites import Composite
from core.errors import ConfigError
from core.extras import missing, require

#: predict_proba: uint8 crops (N, S, S) -> class probabilities (N, n_classes)
PredictProba = Callable[[np.ndarray], np.ndarray]

#: occluded copies (or LIME samples) sent to predict_proba per call
BATCH = 1024
#: crops per Grad-CAM forward and backward pass
GRADCAM_BATCH = 256


def gradcam(estimator, crops, targets) -> np.ndarray:
    """Grad-CAM maps (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", arXiv 1610.02391), by captum's `LayerGradCam`.

    For each crop, the channels of the feature map A (N, C, h, w) of the layer that the registry's
    `feature_layer` names are weighted by the spatial mean of d logit[target] / dA, summed, passed
    through a ReLU (as in the paper, before upsampling), upsampled bilinearly to S x S and scaled
    to [0, 1]. The model runs in fp32, in eval mode, without test-time augmentation; the crops are
    resized to the estimator's `image_size` first when it has one, and normalised as in training.

    estimator: a fitted `deep.estimator.CNNClassifier`, or a composite of those (`core.composites`:
    one logit-adjusted has the same gradients, so the CNN's own maps; an average, the mean of the maps
    of the members that know the crop's class, each scaled to [0, 1] first, then scaled again).
    crops: uint8 (N, S, S) face crops. targets: int (N,), indices into `estimator.classes_`.
    Returns float32 (N, S, S) in [0, 1].
    Raises `ConfigError` when the estimator is none of those (use `occlusion` or `lime`), sklearn's
    `NotFittedError` when it is not fitted, and `ValueError` for crops or targets of the wrong shape,
    type or range.
    """
    maps = _gradcam_of(estimator)
    if maps is None:
        raise ConfigError(
            f"Grad-CAM explains a CNN (deep.estimator.CNNClassifier), not a {type(estimator).__name__} "
            "(or an average with a member that is not one); occlusion and lime explain any model with "
            "predict_proba"
        )
    return maps(crops, targets)


def has_gradcam(estimator) -> bool:
    """Whether `gradcam` explains `estimator`: a CNN checkpoint's, or a composite of those."""
    return _gradcam_of(estimator) is not None


def _gradcam_of(estimator):
    """The function `maps(crops, targets)` that gives `estimator`'s Grad-CAM maps (see `gradcam`), or
    None where Grad-CAM does not explain it: a composite's combines its parts' (`Composite.combine_maps`)."""
    from deep.estimator import CNNClassifier  # torch: imported only here

    if isinstance(estimator, Composite):
        parts = [_gradcam_of(part) for part in estimator.parts()]
        return None if None in parts else partial(_composite_gradcam, estimator, parts)
    return partial(_cnn_gradcam, estimator) if isinstance(estimator, CNNClassifier) else None


def _composite_gradcam(composite: Composite, part_maps: list, crops, targets) -> np.ndarray:
    crops = _crops(crops)
    targets = _targets(targets, len(crops), len(composite.classes_))
    return _normalised(composite.combine_maps(part_maps, crops, targets))


def _cnn_gradcam(estimator, crops, targets) -> np.ndarray:
    check_is_fitted(estimator, "model_")
    crops = _crops(crops)
    targets = _targets(targets, len(crops), len(estimator.classes_))

    import torch
    from captum.attr import LayerAttribution, LayerGradCam

    from deep.models import feature_layer
    from features import resize_stack

    model = estimator.model_
    cam = LayerGradCam(model, model.get_submodule(feature_layer(estimator._model_spec()[0])))
    images = crops if estimator.image_size is None else resize_stack(crops, estimator.image_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    maps = []
    try:
        with estimator._runtime().cpu_threads():
            for start in range(0, len(images), GRADCAM_BATCH):
                batch = slice(start, start + GRADCAM_BATCH)
                x = torch.from_numpy(images[batch]).to(device).float()
                x = ((x - estimator.mean_) / estimator.std_).unsqueeze(1)  # as deep.train.Runtime.inputs, in fp32
                target = torch.from_numpy(targets[batch]).to(device)
                attribution = cam.attribute(x, target=target, relu_attributions=True).detach()
                maps.append(LayerAttribution.interpolate(attribution, crops.shape[1:], interpolate_mode="bilinear"))
    finally:
        model.train(was_training)
    return _normalised(torch.cat(maps)[:, 0].cpu().numpy())


def occlusion(
    predict_proba: PredictProba,
    crops,
    targets,
    window: int | None = None,
    stride: int | None = None,
    fill: float | None = None,
) -> np.ndarray:
    """Occlusion sensitivity maps (Zeiler & Fergus 2014, "Visualizing and Understanding
    Convolutional Networks", arXiv 1311.2901), for any model.

    A `window` x `window` square filled with `fill` (default: each crop's mean grey) is slid over the
    crop by `stride` pixels (the last position is moved in to touch the far edge, so every pixel is
    covered); each pixel's value is the mean, over the positions that hide it, of the drop in the
    target class probability, clipped at 0 and scaled to [0, 1]. All occluded copies go through
    `predict_proba` in batches of up to BATCH images (P = (ceil((S - window) / stride) + 1)^2 copies
    per crop: 121 at 48x48 with the defaults).

    predict_proba: uint8 (M, S, S) -> (M, n_classes), e.g. a fitted estimator's `predict_proba` (any
    per-class score works: `class_scores` gives an SVM's decision values).
    crops: uint8 (N, S, S). targets: int (N,), columns of predict_proba.
    window: side of the square (default round(S / 6): 8 at 48). stride: its step (default round(S / 12)).
    fill: grey value 0-255 of the square (default: the crop's mean).
    Returns float32 (N, S, S) in [0, 1].
    Raises `ConfigError` for a window, stride or fill out of range, `ValueError` for crops or targets
    of the wrong shape, type or range.
    """
    crops = _crops(crops)
    n, size = crops.shape[:2]
    window = check.number("window", round(size / 6) if window is None else window, 1, size, integer=True)
    stride = check.number("stride", round(size / 12) if stride is None else stride, 1, integer=True)
    fill = check.number("fill", fill, 0, 255, optional=True)
    base = np.asarray(predict_proba(crops))
    targets = _targets(targets, n, base.shape[1])

    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    masks = np.zeros((len(starts) ** 2, size, size), bool)  # (P, S, S): where each position hides
    for k, (y, x) in enumerate(itertools.product(starts, starts)):
        masks[k, y : y + window, x : x + window] = True
    fills = crops.mean((1, 2)) if fill is None else np.full(n, fill)
    fills = np.rint(fills).astype(np.uint8)

    drops = np.empty(n * len(masks), np.float32)  # copy j is crop j // P under mask j % P
    for start in range(0, len(drops), BATCH):
        i, k = np.divmod(np.arange(start, min(start + BATCH, len(drops))), len(masks))
        copies = np.where(masks[k], fills[i, None, None], crops[i])
        occluded = np.asarray(predict_proba(copies))[np.arange(len(i)), targets[i]]
        drops[start : start + len(i)] = base[i, targets[i]] - occluded
    flat = masks.reshape(len(masks), -1).astype(np.float32)
    heat = drops.reshape(n, len(masks)) @ flat / flat.sum(0)  # mean drop over the positions hiding each pixel
    return _normalised(heat.reshape(n, size, size))


def lime(
    predict_proba: PredictProba,
    crops,
    targets,
    num_samples: int = 1000,
    seed: int = 0,
    n_segments: int = 40,
    compactness: float = 0.3,
) -> np.ndarray:
    """LIME maps (Ribeiro et al. 2016, "Why Should I Trust You?": Explaining the Predictions of Any
    Classifier", arXiv 1602.04938), by the `lime` package's `LimeImageExplainer`, for any model.

    Each crop is cut into about `n_segments` SLIC superpixels (scikit-image; quickshift, lime's
    default, finds one to three in a 48x48 face); `num_samples` copies with random superpixels hidden
    (filled with the crop's mean grey) go through `predict_proba`, and a weighted ridge regression of
    the target probability on which superpixels were shown gives each superpixel a weight. The map
    is the positive weights painted on their superpixels, scaled to [0, 1]. Every crop is explained
    with a fresh random state seeded by `seed`, so a crop's map does not depend on the others.

    predict_proba: uint8 (M, S, S) -> (M, n_classes), or any per-class score (`class_scores`).
    crops: uint8 (N, S, S). targets: int (N,), columns of predict_proba.
    num_samples: random maskings per crop. seed: the sampling's seed.
    n_segments, compactness: SLIC's parameters (compactness for intensities in [0, 1]).
    Returns float32 (N, S, S) in [0, 1].
    Raises `ConfigError` for parameters out of range, `ValueError` for crops or targets of the
    wrong shape, type or range.
    """
    from lime import lime_image
    from skimage.segmentation import slic

    crops = _crops(crops)
    num_samples = check.number("num_samples", num_samples, 10, integer=True)
    seed = check.number("seed", seed, 0, integer=True)
    n_segments = check.number("n_segments", n_segments, 2, integer=True)
    compactness = check.number("compactness", compactness, 0, low_open=True)
    targets = _targets(targets, len(crops), np.asarray(predict_proba(crops[:1])).shape[1])

    def classify(images: np.ndarray) -> np.ndarray:  # lime's RGB samples (M, S, S, 3) -> grey uint8 crops
        return np.asarray(predict_proba(np.ascontiguousarray(images[..., 0], dtype=np.uint8)))

    def segment(image: np.ndarray) -> np.ndarray:
        return slic(image[..., 0], n_segments=n_segments, compactness=compactness, channel_axis=None, start_label=0)

    maps = np.zeros(crops.shape, np.float32)
    with mock.patch.object(lime_image, "tqdm", lambda rows: rows):  # lime 0.2 draws a progress bar per crop
        for j, (crop, target) in enumerate(zip(crops, targets)):
            explainer = lime_image.LimeImageExplainer(feature_selection="none", random_state=seed)
            found = explainer.explain_instance(
                np.repeat(crop[..., None], 3, axis=2),
                classify,
                labels=(int(target),),
                hide_color=int(round(crop.mean())),
                top_labels=None,
                num_samples=num_samples,
                batch_size=BATCH,
                segmentation_fn=segment,
            )
            weights = np.zeros(found.segments.max() + 1, np.float32)
            for segment_id, weight in found.local_exp[int(target)]:
                weights[segment_id] = weight
            maps[j] = weights[found.segments]
    return _normalised(maps)


#: method name -> function, in the order the applications offer them: the faithful method first. Hiding the
#: top region of an occlusion map lowers the prediction (tests/test_explain.py), and LIME points at the same
#: mouth; Grad-CAM's coarse map fails that check on fernet (the xfail there), so it comes last. gradcam
#: takes the estimator, the others its class scores (`class_scores`).
EXPLAINERS = {"occlusion": occlusion, "lime": lime, "gradcam": gradcam}
#: how the applications name each method (the web page's heat-map selector)
TITLES = {"occlusion": "Occlusion (recommended)", "lime": "LIME", "gradcam": "Grad-CAM (coarse, less faithful)"}
#: the colour map of `overlay` (OpenCV's inferno: dark for low evidence, bright yellow for high)
COLORMAP = cv2.COLORMAP_INFERNO
#: the methods that need the `explain` extra (captum, lime); occlusion needs nothing more
NEEDS_EXTRA = ("gradcam", "lime")


def installed(method: str) -> bool:
    """Whether `method`'s libraries are installed (the `explain` extra, for gradcam and lime)."""
    return method not in NEEDS_EXTRA or not missing("explain")


def require_method(method: str) -> None:
    """Raise `core.extras.ExtraMissing` when `method` needs the `explain` extra and it is not installed."""
    if method in NEEDS_EXTRA:
        require("explain", f"explain={method}")


def explain(method: str, estimator, crops, targets=None, **options) -> np.ndarray:
    """Heat maps (float32 (N, S, S) in [0, 1]) of `method` (an `EXPLAINERS` name) for uint8 crops
    (N, S, S) and class indices `targets` (N,) into `estimator.classes_`; None explains each crop's
    predicted class. gradcam gets the estimator, occlusion and lime only `class_scores(estimator)`;
    `options` are the method's keyword arguments. An unknown method is a `ConfigError`; see each
    method for the others."""
    explainer = EXPLAINERS[check.choice("method", method, EXPLAINERS)]
    require_method(method)
    scores = class_scores(estimator)
    if targets is None:
        targets = np.asarray(scores(_crops(crops))).argmax(1)
    return explainer(estimator if explainer is gradcam else scores, crops, targets, **options)


def photo_map(method: str, model, faces, image_shape: tuple[int, int], **options) -> np.ndarray:
    """(H, W) float32 in [0, 1]: for every classified face of a photo (`pipeline.Face`s of the
    `FaceModel` `model`), the `method` map of its label, pasted back where its crop came from (the
    larger value where faces overlap; 0 away from faces)."""
    heat = np.zeros(image_shape, np.float32)
    if not faces:
        return heat
    crops = np.stack([face.crop for face in faces])
    targets = np.array([model.classes.index(face.label) for face in faces])
    for face, crop_map in zip(faces, explain(method, model.estimator, crops, targets, **options)):
        heat = np.maximum(heat, to_image(crop_map, face.square.to_image(crops.shape[1]), image_shape))
    return heat


def class_scores(estimator) -> PredictProba:
    """What occlusion and LIME measure for `estimator`: its `predict_proba`, or, for a model without
    one (ferbench's RBF SVMs: `benchmark.classifiers.RBFSVM`), its `decision_function` (the maps then
    show the drop in the class's decision value); uint8 (M, S, S) -> (M, n_classes). A binary
    decision function's (M,) is made (M, 2). Raises `ConfigError` for a model with neither."""
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba
    if not hasattr(estimator, "decision_function"):
        raise ConfigError(f"a {type(estimator).__name__} has neither predict_proba nor decision_function to explain")

    def decision(X: np.ndarray) -> np.ndarray:
        values = np.asarray(estimator.decision_function(X), np.float64)
        return np.stack([-values, values], 1) if values.ndim == 1 else values

    return decision


def to_image(heatmap, crop_to_image, image_shape) -> np.ndarray:
    """A crop's (S, S) heat map pasted back onto the photo the crop was cut from.

    crop_to_image: the 2x3 affine matrix from crop pixel coordinates to image pixel coordinates, as
    `benchmark.faces.geometry.Square.to_image(S)` gives for the square the crop was cut from.
    image_shape: the photo's (H, W) (or (H, W, C)).
    Returns float32 (H, W): the map, bilinearly resampled, where the crop lies; 0 elsewhere.
    Raises `ValueError` for a map that is not 2-D or a matrix that is not 2x3.
    """
    heatmap = np.asarray(heatmap, np.float32)
    matrix = np.asarray(crop_to_image, np.float64)
    if heatmap.ndim != 2 or matrix.shape != (2, 3):
        raise ValueError(f"to_image takes an (S, S) map and a 2x3 matrix, got {heatmap.shape} and {matrix.shape}")
    height, width = image_shape[:2]
    # The matrix maps the source (crop) to the destination (image): warpAffine's direction without
    # WARP_INVERSE_MAP (it inverts the matrix to look each image pixel up in the crop).
    return cv2.warpAffine(
        heatmap, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def legend(stops: int = 9) -> list[str]:
    """The colours of `overlay`'s default colour map at `stops` evenly spaced heat values from 0 (low
    evidence) to 1 (high), as "#rrggbb" strings: what a legend of the heat maps shows. Raises
    `ConfigError` for fewer than 2 or more than 256 stops."""
    stops = check.number("stops", stops, 2, 256, integer=True)
    values = np.rint(np.linspace(0, 255, stops)).astype(np.uint8)[:, None]
    colours = cv2.applyColorMap(values, COLORMAP)[:, 0, ::-1]  # BGR -> RGB
    return ["#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in colours]


def overlay(image_rgb, heat, alpha: float = 0.45, colormap: int = COLORMAP) -> np.ndarray:
    """`image_rgb` with the heat map blended in: uint8 RGB (H, W, 3).

    Where heat > 0 each pixel is (1 - alpha) of the photo plus alpha of the colour of its heat
    (OpenCV's `colormap`, default inferno: perceptually uniform, dark to bright); elsewhere it is
    the photo as it was. image_rgb: uint8 (H, W, 3), or (H, W) grey. heat: (H, W) in [0, 1],
    e.g. from `to_image`. Raises `ValueError` for other shapes or dtypes, `ConfigError` for alpha
    outside [0, 1].
    """
    image = np.asarray(image_rgb)
    if image.dtype == np.uint8 and image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    heat = np.asarray(heat, np.float32)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or heat.shape != image.shape[:2]:
        raise ValueError(
            f"overlay takes a uint8 RGB image (H, W, 3) and a heat map (H, W), got {image.dtype} "
            f"{image.shape} and {heat.shape}"
        )
    alpha = check.number("alpha", alpha, 0, 1)
    colours = cv2.applyColorMap(np.rint(np.clip(heat, 0, 1) * 255).astype(np.uint8), colormap)[..., ::-1]  # BGR->RGB
    weight = np.where(heat > 0, alpha, 0.0)[..., None]
    return np.rint(image * (1 - weight) + colours * weight).astype(np.uint8)


def _crops(crops) -> np.ndarray:
    crops = np.asarray(crops)
    if crops.dtype != np.uint8 or crops.ndim != 3 or crops.shape[1] != crops.shape[2] or not len(crops):
        raise ValueError(
            f"crops must be a non-empty uint8 stack of square grayscale crops (N, S, S), got "
            f"{crops.dtype} {crops.shape}"
        )
    return np.ascontiguousarray(crops)


def _targets(targets, n: int, n_classes: int) -> np.ndarray:
    targets = np.asarray(targets)
    if targets.shape != (n,) or targets.dtype.kind not in "iu":
        raise ValueError(
            f"targets must be one integer class index per crop, shape ({n},), got {targets.dtype} {targets.shape}"
        )
    outside = sorted(set(targets.tolist()) - set(range(n_classes)))
    if outside:
        raise ValueError(f"targets must be class indices 0..{n_classes - 1} (columns of predict_proba), got {outside}")
    return targets.astype(np.int64)


def _normalised(maps: np.ndarray) -> np.ndarray:
    """Each map clipped at 0 and divided by its maximum; all-zero maps stay zero. float32 (N, S, S)."""
    maps = np.maximum(np.nan_to_num(np.asarray(maps, np.float32)), 0)
    peak = maps.max(axis=(1, 2), keepdims=True)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
