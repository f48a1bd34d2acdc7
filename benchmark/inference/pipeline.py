"""`FacePipeline`: every face of a photo, cropped the way the model's training crops were cut, and
classified in one batch.

The stages are the benchmark's own (`benchmark.faces`), per image instead of per data set: find every
face (`FaceDetector.find`) on a copy of the image no larger than `detect_side` pixels (detection cost
grows with the pixel count; the faces are then placed back at full resolution), cut each one from
the full-resolution grey image with the model's crop settings (`FaceDetector.crop`: the eyes levelled,
the same margin and preprocessing, the model's input size), then one `predict_proba` for all crops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from benchmark.faces.base import FaceDetector, Found
from benchmark.faces.geometry import Square
from benchmark.inference.models import FaceModel, shipped
from core import validation as check
from core.errors import ConfigError
from core.images import Image, read_image


@dataclass
class Face:
    """One face of an image: box (x, y, w, h) and eyes (x1, y1, x2, y2, or None when not found) in the
    image's pixels; alignment: "aligned" (eyes levelled) or "box" (cut from the box, unrotated);
    the crop (S, S) uint8 the model saw and the square of the image it was cut from; the detector's
    score; the class probabilities (K,) float32 in the model's class order and the top label."""

    box: tuple[float, float, float, float]
    eyes: tuple[float, float, float, float] | None
    alignment: str
    crop: np.ndarray
    square: Square
    score: float
    probabilities: np.ndarray | None = None
    label: str | None = None

    def to_json(self, classes: list[str]) -> dict:
        """JSON values: box, eyes, alignment, detector score, label, probabilities by class name."""
        return {
            "box": [round(float(v), 1) for v in self.box],
            "eyes": None if self.eyes is None else [round(float(v), 1) for v in self.eyes],
            "alignment": self.alignment,
            "detector_score": round(float(self.score), 4),
            "label": self.label,
            "probabilities": {c: round(float(p), 4) for c, p in zip(classes, self.probabilities)},
        }


def build_detector(stage: dict, size: int, cache_dir: str | None = None) -> FaceDetector:
    """The detector of a face stage ({"detector": name, **its settings}), cropping at `size`, caching its
    detections in `cache_dir` (None: no cache). The settings not given take the detector class's
    defaults, which conf/detector/<name>.yaml states (tests/test_config.py holds them equal), so no
    config is composed here. A stage of detector "none" (a model trained on ready-made crops) has no
    detector to build: the caller decides which framing to use. Raises ConfigError for another
    detector name or a setting the detector does not have."""
    from benchmark.faces import DETECTORS

    name = stage.get("detector", "none")
    detector = DETECTORS[check.choice("detector", name, tuple(DETECTORS))]
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


class FacePipeline:
    """Find, crop and classify every face of an image with `model` (a `FaceModel`).

    detector: None (the model's own face stage), a detector name (haar | mtcnn: that detector with
        the model's crop settings), or a dict of face-stage values to change (e.g. {"margin": 0.2}).
        A model trained on ready-made crops (face stage "none", e.g. the FER2013 ones) gets the
        shipped model's framing, measured to match FER2013's crops.
    detect_side: faces are looked for on a copy of the image whose longer side is at most this many
        pixels (a 12-megapixel photo takes seconds at full size, and faces are large in it).
    """

    def __init__(self, model: FaceModel, detector: str | dict | None = None, detect_side: int = 800):
        self.model = model
        self.detect_side = check.number("detect_side", detect_side, 64, integer=True)
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
        image = as_image(image)
        found = self.find(image.gray)
        faces = []
        for j in range(len(found)):
            crop, status, square = self.detector.crop(image.gray, found.boxes[j], found.eyes[j])
            eyes = None if np.isnan(found.eyes[j]).any() else tuple(found.eyes[j])
            faces.append(Face(tuple(found.boxes[j]), eyes, status, crop, square, float(found.scores[j])))
        return sorted(faces, key=lambda f: (f.box[0], f.box[1]))

    def find(self, gray: np.ndarray) -> Found:
        """The faces of a grey image, looked for on a copy no larger than `detect_side`."""
        factor = min(1.0, self.detect_side / max(gray.shape))
        if factor == 1.0:
            return self.detector.find(gray)
        small = cv2.resize(
            gray, (round(gray.shape[1] * factor), round(gray.shape[0] * factor)), interpolation=cv2.INTER_AREA
        )
        return self.detector.find(small).scaled(1 / factor)

    def classify(self, faces: list[Face]) -> list[Face]:
        """Fill in the probabilities and labels of `faces`, all crops in one batch."""
        if faces:
            crops = np.stack([f.crop for f in faces])
            proba = self.model.predict_proba(crops)
            labels = (
                [self.model.classes[i] for i in proba.argmax(axis=1)]
                if self.model.calibrated
                else self.model.predict(crops)
            )
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
            "faces": [f.to_json(self.model.classes) for f in faces],
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
