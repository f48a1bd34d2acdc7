"""Test-time perturbations at graded severities: what a face photo goes through outside a lab.

Each perturbation is an OpenCV / numpy operation on one 2-D uint8 grey image, at 4 severities on a
stated scale (`SCALES`, tabled on the docs' robustness page). Sizes are fractions of the image's side, so a 48x48 crop
and a 256x256 photo are blurred, shifted or occluded alike relative to their size. Random choices
(noise, the direction of a motion blur or a shift, where a patch goes) come from a generator
seeded by (seed, perturbation, severity, image id): every method sees exactly the same perturbed
images, so their differences are paired.

Occluders are placed where the face's eyes and mouth are: in a crop cut from the eyes
(`benchmark.faces`), from the crop's geometry (`FACE_SIDE`, `CENTRE_BELOW_EYES`, the margin); in a
ready-made crop (FER2013, CK+48) at the usual places of those crops (`READY_MADE`); in a whole photo
(perturbing before detection), through the clean detection's square (`Square.to_image`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from benchmark.faces.geometry import CENTRE_BELOW_EYES, FACE_SIDE
from core.errors import ConfigError

N_SEVERITIES = 4


@dataclass(frozen=True)
class FaceLayout:
    """Where the eyes and the mouth are in a square face crop, as fractions of its side: the eye
    midpoint's height, the distance between the eyes, and the mouth's height."""

    eyes_y: float
    eye_distance: float
    mouth_y: float

    @classmethod
    def of_margin(cls, margin: float) -> FaceLayout:
        """The layout of crops cut from the eyes with `margin` (benchmark.faces.geometry.face_square)."""
        side = FACE_SIDE * (1 + 2 * margin)  # in eye distances
        eyes_y = 0.5 - CENTRE_BELOW_EYES / side
        return cls(eyes_y, 1 / side, eyes_y + 1.0 / side)  # the mouth ~1 eye distance below the eyes


#: ready-made 48x48 crops (FER2013, CK+48): eyes ~38 % down and ~36 % of the side apart, mouth ~75 % down
READY_MADE = FaceLayout(eyes_y=0.38, eye_distance=0.36, mouth_y=0.75)

#: the severities of each perturbation, what the numbers mean (the docs' robustness page tables them)
SCALES = {
    "low_light": (
        "gamma, brightness; then shot noise (Poisson, one grey level a photon) and read noise sigma",
        [(1.5, 0.6, 2), (2.0, 0.45, 3), (2.5, 0.3, 4), (3.0, 0.2, 5)],
    ),
    "gaussian_noise": ("sigma, grey levels of 255", [8, 16, 24, 32]),
    "gaussian_blur": ("sigma, fraction of the side", [0.01, 0.02, 0.03, 0.045]),
    "motion_blur": ("length, fraction of the side (random direction)", [0.05, 0.1, 0.15, 0.2]),
    "jpeg": ("JPEG quality", [30, 15, 8, 4]),
    "resolution": ("down-scaled to this fraction of the side, then up again", [0.5, 0.33, 0.25, 0.167]),
    "occlusion_eyes": ("a black band over the eyes: height, fraction of the side", [0.08, 0.12, 0.16, 0.2]),
    "occlusion_mouth": ("a light mask over the mouth: height, fraction of the side", [0.1, 0.15, 0.2, 0.25]),
    "occlusion_patch": ("a random square of noise: area, fraction of the face crop's", [0.05, 0.1, 0.2, 0.3]),
    "rotation": ("in-plane rotation, degrees (random direction)", [10, 20, 30, 45]),
    "crop_shift": ("the crop moved sideways, fraction of its side (random direction)", [0.05, 0.1, 0.15, 0.2]),
}
NAMES = tuple(SCALES)
#: perturbations of the crop that have no meaning on a whole photo before detection
CROP_ONLY = ("crop_shift",)


def rng_for(seed: int, name: str, severity: int, image_id: str) -> np.random.Generator:
    """The generator of one image's perturbation: the same for every method and run with this seed."""
    text = f"{seed}|{name}|{severity}|{image_id}".encode("utf-8", "surrogateescape")  # ids from any file name
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def apply(
    name: str,
    severity: int,
    image: np.ndarray,
    rng: np.random.Generator,
    face: Callable[[float, float], tuple[float, float]] | None = None,
    layout: FaceLayout = READY_MADE,
) -> np.ndarray:
    """`image` (H, W) uint8 perturbed by `name` at `severity` (1..N_SEVERITIES), a new uint8 array.

    For the occlusions, `face` maps a point of the face's crop (x, y as fractions of its side) to
    the image's pixels (None: the image is the crop) and `layout` says where the eyes and mouth are
    in that crop. Raises ConfigError for an unknown name or severity.
    """
    if name not in SCALES:
        raise ConfigError(f"is {name!r}; the perturbations are {', '.join(NAMES)}", "perturbation")
    if not 1 <= severity <= N_SEVERITIES:
        raise ConfigError(f"must be 1 to {N_SEVERITIES}, got {severity}", "severity")
    level = SCALES[name][1][severity - 1]
    image = np.ascontiguousarray(image, dtype=np.uint8)
    side = float(min(image.shape))
    if face is None:
        face = lambda x, y: (x * image.shape[1] - 0.5, y * image.shape[0] - 0.5)  # noqa: E731 - pixel centres
    return _OPS[name](image, level, rng, side=side, face=face, layout=layout)


def _low_light(image, level, rng, **_):
    gamma, brightness, read_noise = level
    dark = 255.0 * brightness * (image / 255.0) ** gamma  # the expected grey level of a dim exposure
    return _clip(rng.poisson(dark) + rng.normal(0, read_noise, image.shape))  # photon shot noise + read noise


def _gaussian_noise(image, sigma, rng, **_):
    return _clip(image + rng.normal(0, sigma, image.shape))


def _gaussian_blur(image, fraction, rng, side, **_):
    return cv2.GaussianBlur(image, (0, 0), sigmaX=max(0.3, fraction * side), borderType=cv2.BORDER_REFLECT)


def _motion_blur(image, fraction, rng, side, **_):
    length = max(2, int(round(fraction * side)))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length))
    return cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6), borderType=cv2.BORDER_REFLECT)


def _jpeg(image, quality, rng, **_):
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)


def _resolution(image, fraction, rng, **_):
    h, w = image.shape
    small = cv2.resize(image, (max(1, round(w * fraction)), max(1, round(h * fraction))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _band(image, face, centre_y, height, width, value, centre_x=0.5) -> np.ndarray:
    """`image` with a rectangle of the face's crop (fractions of its side) filled with `value`."""
    corners = [
        face(centre_x + dx * width / 2, centre_y + dy * height / 2) for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
    ]
    out = image.copy()
    cv2.fillConvexPoly(out, np.round(np.array(corners) * 16).astype(np.int32), value, lineType=cv2.LINE_AA, shift=4)
    return out


def _occlusion_eyes(image, height, rng, face, layout, **_):  # dark glasses
    return _band(image, face, layout.eyes_y, height, 1.6 * layout.eye_distance + height, 0)


def _occlusion_mouth(image, height, rng, face, layout, **_):  # a light surgical mask
    return _band(image, face, layout.mouth_y, height, 1.5 * layout.eye_distance, 210)


def _occlusion_patch(image, area, rng, face, **_):  # a random square of noise
    size = float(np.sqrt(area))
    x, y = rng.uniform(size / 2, 1 - size / 2, 2)
    inside = _band(np.zeros_like(image), face, y, size, size, 255, centre_x=x) > 0
    return np.where(inside, rng.integers(0, 256, image.shape, dtype=np.uint8), image)


def _rotation(image, degrees, rng, **_):
    h, w = image.shape
    angle = float(degrees) * (1 if rng.random() < 0.5 else -1)
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _crop_shift(image, fraction, rng, side, **_):
    shift = fraction * side * (1 if rng.random() < 0.5 else -1)
    matrix = np.float32([[1, 0, shift], [0, 1, 0]])
    return cv2.warpAffine(image, matrix, image.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _clip(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


_OPS = {
    "low_light": _low_light,
    "gaussian_noise": _gaussian_noise,
    "gaussian_blur": _gaussian_blur,
    "motion_blur": _motion_blur,
    "jpeg": _jpeg,
    "resolution": _resolution,
    "occlusion_eyes": _occlusion_eyes,
    "occlusion_mouth": _occlusion_mouth,
    "occlusion_patch": _occlusion_patch,
    "rotation": _rotation,
    "crop_shift": _crop_shift,
}
assert set(_OPS) == set(SCALES)
