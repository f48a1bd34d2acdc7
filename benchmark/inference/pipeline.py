"""`FacePipeline`: every face of a photo, cropped the way the model's training crops were cut, and
classified in one batch.

The stages are the benchmark's own (`benchmark.faces`), per image instead of per data set: find every
face (`FaceDetector.find`) on a copy of the image scaled so that the smallest face wanted (`min_face`
pixels of the photo) is the smallest the detector finds, in tiles when that copy is very large
(`benchmark.faces.search`; the faces are then placed back at full resolution), cut each one from the
full-resolution grey image with the model's crop settings (`FaceDetector.crop`: the eyes levelled,
the same margin and preprocessing, the model's input size), then one `predict_proba` for all crops.

Ready-made face crops (a 48x48 crop, a small photo filled by one face) are classified whole, padded
to a square (alignment "whole_image"): an image whose face fills it (the face's crop square is at
least `crop_fill` of its longer side), or a small one (`crop_side`) in which no face is found. With
the face stage "none" (`detector="none"`) every image is classified whole. The defaults come from
the face-finding study (bench/face_finding.py, results/studies/face_finding.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from benchmark.faces.base import FaceDetector, Found
from benchmark.faces.geometry import Square
from benchmark.faces.none import WholeImage
from benchmark.faces.search import find_faces
from benchmark.inference.models import FaceModel, shipped
from core import validation as check
from core.errors import ConfigError
from core.images import Image, read_image


@dataclass
class Face:
    """One face of an image: box (x, y, w, h) and eyes (x1, y1, x2, y2, or None when not found) in the
    image's pixels; alignment: "aligned" (eyes levelled), "box" (cut from the box, unrotated) or
    "whole_image" (a ready-made crop: the whole image, box (0, 0, W, H)); the crop (S, S) uint8 the
    model saw and the square of the image it was cut from; the detector's score (0 for a whole image
    in which the detector found no face); the class probabilities (K,) float32 in the model's class
    order and the top label."""

    box: tuple[float, float, float, float]
    eyes: tuple[float, float, float, float] | None
    alignment: str
    crop: np.ndarray
    square: Square
    score: float
    probabilities: np.ndarray | None = None
    label: str | None = None

    def to_json(self, classes: list[str], calibrated: bool = True) -> dict:
        """JSON values: box, eyes, alignment, detector score, label, and the score of each class by name:
        "probabilities", or "scores" for a model whose scores are not probabilities (`calibrated` False)."""
        return {
            "box": [round(float(v), 1) for v in self.box],
            "eyes": None if self.eyes is None else [round(float(v), 1) for v in self.eyes],
            "alignment": self.alignment,
            "detector_score": round(float(self.score), 4),
            "label": self.label,
            "probabilities" if calibrated else "scores": {
                c: round(float(p), 4) for c, p in zip(classes, self.probabilities)
            },
        }


def build_detector(stage: dict, size: int, cache_dir: str | None = None) -> FaceDetector:
    """The detector of a face stage ({"detector": name, **its settings}), cropping at `size`, caching its
    detections in `cache_dir` (None: no cache). The settings not given take the detector class's
    defaults, which conf/detector/<name>.yaml states (tests/test_config.py holds them equal), so no
    config is composed here. A stage of detector "none" gives `WholeImage`: every image one
    ready-made crop (`face_stage_for` gives a model trained on such crops the shipped framing
    instead, unless "none" is asked for). Raises ConfigError for another detector name or a setting
    the detector does not have."""
    from benchmark.faces import DETECTORS

    name = stage.get("detector", "none")
    detectors = {**DETECTORS, "none": WholeImage}
    detector = detectors[check.choice("detector", name, tuple(detectors))]
    known = settings(detector)
    unknown = sorted(set(stage) - set(known) - {"detector"})
    if unknown:
        raise ConfigError(
            f"face stage of detector {name} has unknown settings {unknown}; its settings are {', '.join(known)}"
        )
    values = {k: v for k, v in stage.items() if k != "detector"}
    return detector(**{**values, "size": int(size), "cache_dir": cache_dir})


def settings(detector: type) -> list[str]:
    """The settings of a detector class: its own parameters and those every `FaceDetector` has."""
    import inspect

    names = []
    for cls in (detector, FaceDetector):
        names += [
            n
            for n, p in inspect.signature(cls.__init__).parameters.items()
            if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and n not in names
        ]
    return names


#: the smallest face a photo is searched for by default, its side in pixels of the photo: the
#: face-finding study's choice (results/studies/face_finding.md: its rule and the trade-off of finding
#: smaller faces against time and false faces); faces only a little larger are missed more often
MIN_FACE = 64
#: a photo is never searched on a copy whose longer side is below this many pixels
DETECT_SIDE = 800
#: the longest side (pixels) searched in one detector call; a larger detection copy is tiled
TILE_SIDE = 4096
#: ready-made crops: the longer side (pixels) up to which an image without a face found is one
CROP_SIDE = 256
#: ready-made crops: the share of the image's longer side that the face's crop square fills in one
CROP_FILL = 0.8
#: the shorter side (pixels) below which an image without a face is too small to be a face crop
#: (the 24 x 24 window Haar cascades are trained on)
MIN_CROP_SIDE = 24
#: the standard deviation of grey levels below which an image without a face is blank, not a face crop
MIN_CROP_CONTRAST = 4.0


class FacePipeline:
    """Find, crop and classify every face of an image with `model` (a `FaceModel`).

    detector: None (the model's own face stage), a detector name (haar | mtcnn: that detector with
        the model's crop settings), or a dict of face-stage values to change (e.g. {"margin": 0.2}).
        A model trained on ready-made crops (face stage "none", e.g. the FER2013 ones) gets the
        shipped model's framing, measured to match FER2013's crops.
        "none": every image is one ready-made face crop, classified whole (`WholeImage`).
    min_face: the smallest face to find, its side in pixels of the photo (the detector's box, about
        the width of the face from ear to ear); the photo is searched on a copy scaled so that such a
        face is the detector's own smallest (Haar: 30 pixels), so a smaller `min_face` finds smaller
        faces in large photos and costs time (about the square of the scale). None: only the
        `detect_side` copy is searched.
    detect_side: a photo is never searched on a copy whose longer side is below this (pixels; the
        whole photo when it is smaller).
    tile_side: a detection copy whose longer side exceeds this (pixels, at least 256 and
        `detect_side`) is searched in overlapping tiles of this side (and once whole, coarser, for
        the largest faces).
    crop_side, crop_fill: ready-made crops. An image whose largest face's crop square is at least
        `crop_fill` of its longer side is classified whole; so is an image whose longer side is at
        most `crop_side` pixels (its shorter side at least MIN_CROP_SIDE, at most 2:1, not blank:
        MIN_CROP_CONTRAST) in which no face is found. crop_side 0 / crop_fill None: off.
    Raises ConfigError for a value out of range.
    """

    def __init__(
        self,
        model: FaceModel,
        detector: str | dict | None = None,
        min_face: int | None = MIN_FACE,
        detect_side: int = DETECT_SIDE,
        tile_side: int = TILE_SIDE,
        crop_side: int = CROP_SIDE,
        crop_fill: float | None = CROP_FILL,
    ):
        self.model = model
        self.min_face = check.number("min_face", min_face, 1, integer=True, optional=True)
        self.detect_side = check.number("detect_side", detect_side, 64, integer=True)
        self.tile_side = check.number("tile_side", tile_side, max(256, self.detect_side), integer=True)
        self.crop_side = check.number("crop_side", crop_side, 0, integer=True)
        self.crop_fill = check.number("crop_fill", crop_fill, 0, 1, low_open=True, optional=True)
        self.face_stage = face_stage_for(model.face_stage, detector)
        self.detector = build_detector(self.face_stage, model.input_size)

    def __call__(self, image) -> list[Face]:
        """Every face of `image` (an `Image`, an (H, W[, 3]) uint8 array, a path or bytes), classified;
        an image without a face gives an empty list."""
        faces = self.faces(image)
        self.classify(faces)
        return faces

    def faces(self, image) -> list[Face]:
        """Every face of `image`, cropped but not yet classified, left to right."""
        gray = as_image(image).gray
        return self.place(gray, self.find(gray))

    def find(self, gray: np.ndarray) -> Found:
        """The faces of an (H, W) uint8 grey image of any size and aspect ratio, in its pixels
        (`benchmark.faces.search.find_faces`); the face stage "none": the whole image."""
        if isinstance(self.detector, WholeImage):
            return self.detector.find(gray)
        return find_faces(self.detector, gray, self.min_face, self.detect_side, self.tile_side)

    def place(self, gray: np.ndarray, found: Found) -> list[Face]:
        """The faces to classify of the grey image in which `found` was found, cropped, left to right:
        one whole-image face for a ready-made crop (see the class docstring), else one per face found."""
        faces = []
        for j in range(len(found)):
            crop, status, square = self.detector.crop(gray, found.boxes[j], found.eyes[j])
            eyes = None if np.isnan(found.eyes[j]).any() else tuple(found.eyes[j])
            faces.append(Face(tuple(found.boxes[j]), eyes, status, crop, square, float(found.scores[j])))
        if self.ready_made(gray, faces):
            score = max((f.score for f in faces), default=0.0)
            crop, status, square = self.detector.crop_whole(gray)
            return [Face((0.0, 0.0, float(gray.shape[1]), float(gray.shape[0])), None, status, crop, square, score)]
        return sorted(faces, key=lambda f: (f.box[0], f.box[1]))

    def ready_made(self, gray: np.ndarray, faces: list[Face]) -> bool:
        """Whether the grey image `gray` with these `faces` found is a ready-made face crop, to be
        classified whole: its largest face fills it, or it is small, not blank, and has no face."""
        if any(f.alignment == "whole_image" for f in faces):
            return False  # already whole (the face stage "none")
        if faces:
            largest = max((f.square.side for f in faces if f.square is not None), default=0.0)
            return self.crop_fill is not None and largest >= self.crop_fill * max(gray.shape)
        short, long = sorted(gray.shape)
        if not (long <= self.crop_side and short >= MIN_CROP_SIDE and long <= 2 * short):
            return False
        return float(gray.std()) >= MIN_CROP_CONTRAST

    def classify(self, faces: list[Face]) -> list[Face]:
        """Fill in the scores and labels of `faces`, all crops in one batch; a label is the class of the
        highest score (`FaceModel.predict`)."""
        if faces:
            crops = np.stack([f.crop for f in faces])
            proba = self.model.predict_proba(crops)
            labels = [self.model.classes[i] for i in proba.argmax(axis=1)]
            for face, p, label in zip(faces, proba, labels):
                face.probabilities, face.label = p, label
        return faces

    def predict_json(self, image, explain: str | None = None) -> dict:
        """What the REST API returns for one image: the model, the faces, timings in ms; with `explain`
        (gradcam | occlusion | lime) also "explanation": the photo with the map of each face's label
        over it, as a PNG data URL."""
        t0 = time.perf_counter()
        image = as_image(image)
        t1 = time.perf_counter()
        faces = self.faces(image)
        t2 = time.perf_counter()
        self.classify(faces)
        t3 = time.perf_counter()
        result = {
            "model": self.model.name,
            "classes": self.model.classes,
            "calibrated": self.model.calibrated,
            "image": {"width": int(image.rgb.shape[1]), "height": int(image.rgb.shape[0])},
            "faces": [f.to_json(self.model.classes, self.model.calibrated) for f in faces],
            "timings_ms": {
                "decode": round(1000 * (t1 - t0), 2),
                "faces": round(1000 * (t2 - t1), 2),
                "classify": round(1000 * (t3 - t2), 2),
            },
        }
        if explain is not None:
            result["explanation"] = {"method": explain, "image": _explanation_png(self.model, image, faces, explain)}
            result["timings_ms"]["explain"] = round(1000 * (time.perf_counter() - t3), 2)
        return result


def face_stage_for(own: dict, detector: str | dict | None = None) -> dict:
    """The face stage to crop with: the model's own (`own`; the shipped framing for a model trained on
    ready-made crops), with another detector (a name: the crop settings carry over, the detector's
    own settings do not) or changed values (a dict)."""
    stage = dict(own)
    if stage.get("detector", "none") == "none":
        stage = dict(shipped()["face_stage"])
    if isinstance(detector, str):
        if detector != stage.get("detector"):
            stage = {k: v for k, v in stage.items() if k in crop_keys()}
        stage["detector"] = detector
    elif detector is not None:
        stage.update(detector)
    return stage


def model_framing(source) -> tuple[dict, int]:
    """(face stage, input size) of the model `source` names (`load_model`'s sources; a list: the first
    member's): how photos are cropped for it (`face_stage_for`: the shipped framing for a model trained on
    ready-made crops) and the crops' side in pixels."""
    from benchmark.inference.models import load_model

    model = load_model(source[0] if isinstance(source, (list, tuple)) else source)
    return face_stage_for(model.face_stage), model.input_size


def _explanation_png(model: FaceModel, image: Image, faces: list[Face], method: str) -> str:
    import base64

    from benchmark.inference import explain as explainers

    painted = explainers.overlay(image.rgb, explainers.photo_map(method, model, faces, image.gray.shape))
    ok, data = cv2.imencode(".png", np.ascontiguousarray(painted[..., ::-1]))
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode()


def crop_keys() -> set[str]:
    """The settings every detector shares (`FaceDetector`'s; conf/detector/crop/default.yaml states them):
    kept when the detector changes."""
    return set(settings(FaceDetector)) - {"cache_dir"}


def as_image(image) -> Image:
    """An `Image` from an `Image`, an (H, W) / (H, W, 3) uint8 RGB array, a path or bytes."""
    if isinstance(image, Image):
        return image
    if isinstance(image, np.ndarray):
        return Image.from_array(image)
    return read_image(image)
