"""`detector=haar`: OpenCV's Viola-Jones cascades, a frontal-face cascade and eye cascades."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from benchmark.faces.base import FaceDetector, Found
from core import validation as check
from core.errors import ConfigError

#: Eyes are searched in this top fraction of the face box. Haar face boxes put the eyes ~0.39 box
#: heights from the top; on JAFFE, searching the top 60% instead of the top half finds an eye pair
#: in 205 instead of 185 of the 213 faces, with the same accuracy.
EYE_REGION = 0.6
#: Eye pairs tilted more than this (degrees) are taken for false detections (nostrils, eyebrows).
MAX_TILT = 30.0


class HaarDetector(FaceDetector):
    """Faces by a Haar cascade; eyes, for alignment, by eye cascades inside the face box.

    cascade: face cascade file: a name in OpenCV's `cv2.data.haarcascades` (e.g.
      haarcascade_frontalface_default.xml, haarcascade_frontalface_alt2.xml) or a path.
    eye_cascades: eye cascade files (same rules); the candidates of all are pooled.
    scale_factor, min_neighbors, min_face_size: `detectMultiScale`'s pyramid step, the number of
      overlapping detections a face needs, and the smallest face side in pixels.
    eye_min_neighbors: `min_neighbors` of the eye search.
    Plus the common parameters of `FaceDetector`.
    """

    name = "haar"
    # JAFFE, frontalface_default: eyes 0.37 box widths apart (5-95%: 0.35-0.39), 0.107 box widths
    # above the box centre; frontalface_alt/alt2 agree within 0.01.
    box_eyes = (0.37, 0.107)

    def __init__(
        self,
        cascade: str = "haarcascade_frontalface_default.xml",
        eye_cascades=("haarcascade_eye.xml",),
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_face_size: int = 30,
        eye_min_neighbors: int = 3,
        **common,
    ):
        super().__init__(**common)
        self.cascade = str(cascade)
        self.eye_cascades = [str(c) for c in ([eye_cascades] if isinstance(eye_cascades, str) else eye_cascades)]
        self.scale_factor = check.number("scale_factor", scale_factor, 1, 2, low_open=True)
        self.min_neighbors = check.number("min_neighbors", min_neighbors, 0, integer=True)
        self.min_face_size = check.number("min_face_size", min_face_size, 1, integer=True)
        self.eye_min_neighbors = check.number("eye_min_neighbors", eye_min_neighbors, 0, integer=True)
        cascade_path("cascade", self.cascade)
        for name in self.eye_cascades:
            cascade_path("eye_cascades", name)
        if self.align and not self.eye_cascades:
            raise ConfigError("must name at least one eye cascade when align is true", "eye_cascades")

    def detection_params(self) -> dict:
        # without alignment the eye search is skipped, so the detections differ
        return {
            **super().detection_params(),
            "align": self.align,
            "cascade": self.cascade,
            "eye_cascades": self.eye_cascades,
            "scale_factor": self.scale_factor,
            "min_neighbors": self.min_neighbors,
            "min_face_size": self.min_face_size,
            "eye_min_neighbors": self.eye_min_neighbors,
            "opencv": cv2.__version__,
        }

    def find(self, image: np.ndarray) -> Found:
        face_cascade, eye_cascades = self._cascades()
        min_size = (self.min_face_size, self.min_face_size)
        boxes, counts = face_cascade.detectMultiScale2(image, self.scale_factor, self.min_neighbors, minSize=min_size)
        if len(boxes) == 0:
            return Found.none()
        eyes = np.full((len(boxes), 4), np.nan)
        if eye_cascades:
            for j, box in enumerate(boxes):
                eyes[j] = self._eyes(image, box, eye_cascades)
        # the number of merged raw detections is the cascade's measure of confidence
        return Found(np.asarray(boxes, float), eyes, np.asarray(counts, float))

    def _cascades(self) -> tuple[cv2.CascadeClassifier, list[cv2.CascadeClassifier]]:
        """The face cascade and the eye cascades (none without alignment), loaded once per detector."""
        if getattr(self, "_loaded", None) is None:
            self._loaded = (
                load_cascade("cascade", self.cascade),
                [load_cascade("eye_cascades", name) for name in self.eye_cascades] if self.align else [],
            )
        return self._loaded

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_loaded"}  # OpenCV cascades cannot be pickled

    def _eyes(self, image: np.ndarray, box, cascades) -> np.ndarray:
        """The eye centres (x1, y1, x2, y2) in `image` of the face in `box`, NaN when no plausible pair is found."""
        x, y, w, h = box
        region = image[y : y + int(EYE_REGION * h), x : x + w]
        candidates = [
            (ex + (ew - 1) / 2, ey + (eh - 1) / 2, ew)
            for cascade in cascades
            for ex, ey, ew, eh in cascade.detectMultiScale(
                region, 1.1, self.eye_min_neighbors, minSize=(w // 10, w // 10), maxSize=(w // 3, w // 3)
            )
        ]
        pair = best_eye_pair(candidates, w, self.box_eyes[0])
        if pair is None:
            return np.full(4, np.nan)
        (ax, ay, _), (bx, by, _) = pair
        return np.array([x + ax, y + ay, x + bx, y + by], dtype=float)


def best_eye_pair(candidates, width: float, expected: float):
    """The most eye-like (left, right) pair among eye candidates (x, y, size) in a face box `width`
    wide, whose eyes are expected `expected` box widths apart; None if no pair is plausible.

    A pair needs one eye in each half of the box, a tilt of at most MAX_TILT degrees and a distance
    within 0.65-1.5 times the expected one. Among those, the lowest cost wins: tilt, distance error,
    size difference and the midpoint's offset from the box's centre line, each relative to its scale
    (the centre line weighs most: false candidates such as an eyebrow sit off-centre in pairs).
    """

    def plausible(a, b):
        distance = math.hypot(b[0] - a[0], b[1] - a[1]) / width
        return tilt(a, b) <= MAX_TILT and 0.65 * expected <= distance <= 1.5 * expected

    def cost(pair):
        a, b = pair
        distance = math.hypot(b[0] - a[0], b[1] - a[1]) / width
        return (
            tilt(a, b) / MAX_TILT
            + abs(distance - expected) / expected
            + abs(a[2] - b[2]) / max(a[2], b[2])
            + 4 * abs((a[0] + b[0]) / 2 - (width - 1) / 2) / width
        )

    pairs = [
        (a, b)
        for a in candidates
        if a[0] < (width - 1) / 2
        for b in candidates
        if b[0] >= (width - 1) / 2 and plausible(a, b)
    ]
    return min(pairs, key=cost, default=None)


def tilt(a, b) -> float:
    """The angle of the line from point a to point b against the horizontal, in degrees (0-90)."""
    return abs(math.degrees(math.atan2(b[1] - a[1], abs(b[0] - a[0]))))


def cascade_path(key: str, name: str) -> str:
    """The file of cascade `name`: a path, or a file name in OpenCV's bundled cascades."""
    for path in (Path(name).expanduser(), Path(cv2.data.haarcascades) / name):
        if path.is_file():
            return str(path)
    bundled = sorted(p.name for p in Path(cv2.data.haarcascades).glob("haarcascade_*.xml"))
    raise ConfigError(f"is {name!r}, which is neither a file nor one of OpenCV's cascades: {', '.join(bundled)}", key)


def load_cascade(key: str, name: str) -> cv2.CascadeClassifier:
    """The OpenCV cascade `name` (one of OpenCV's files, or a path); a ConfigError naming `key` otherwise."""
    cascade = cv2.CascadeClassifier(cascade_path(key, name))
    if cascade.empty():
        raise ConfigError(f"is {name!r}, which is not a valid OpenCV cascade file", key)
    return cascade
