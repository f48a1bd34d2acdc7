"""Where a face crop is cut: a square placed from the two eye centres, then rotated, cut and resized.

Every crop, aligned or not, goes through the same two steps: choose a `Square` (centre, side,
rotation) in the image, then `cut` it out. Placing the square from the eyes is what aligns the
faces: the eyes end up level, at the same height and the same distance apart in every crop. A
face found without its eyes gets eyes estimated from its box (`eyes_from_box`), so its crop has
the same scale as the aligned ones, only unrotated.

Coordinates are in pixels with pixel i's centre at i, so the centre of a w-pixel span is at (w - 1) / 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Side of the face square (margin 0) in inter-eye distances: from the eyebrows to the chin, and
#: about the width of the face (anthropometric averages: face width ~2.2, eyes-to-chin ~1.85 and
#: eyebrows ~0.35 inter-eye distances; checked on JAFFE's MTCNN landmarks and boxes).
FACE_SIDE = 2.2
#: How far the square's centre lies below the eye midpoint, in inter-eye distances
#: (midway between the eyebrows at -0.35 and the chin at +1.85).
CENTRE_BELOW_EYES = 0.75


@dataclass(frozen=True)
class Square:
    """A square region of an image: centre (x, y) in pixels, side in pixels, and the rotation in
    degrees (counter-clockwise as displayed) that makes it upright."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0

    @property
    def pixels(self) -> int:
        """The side of the patch `cut` takes at the image's own resolution, in whole pixels."""
        return max(1, round(self.side))

    def to_patch(self) -> np.ndarray:
        """The 2x3 affine matrix from image coordinates to the upright `pixels` x `pixels` patch:
        rotate about the square's centre, then move that centre to the patch's."""
        matrix = cv2.getRotationMatrix2D((self.cx, self.cy), self.angle, 1.0)
        matrix[:, 2] += ((self.pixels - 1) / 2 - self.cx, (self.pixels - 1) / 2 - self.cy)
        return matrix

    def to_crop(self, size: int) -> np.ndarray:
        """The 2x3 affine matrix (float64) from image coordinates to those of the size x size crop that
        `cut` makes of this square: the patch, then its resize (pixel centres: x' = s (x + 0.5) - 0.5)."""
        scale = size / self.pixels
        matrix = self.to_patch() * scale
        matrix[:, 2] += 0.5 * scale - 0.5
        return matrix

    def to_image(self, size: float) -> np.ndarray:
        """The 2x3 affine matrix from the crop's coordinates back to the image's (inverse of `to_crop`)."""
        return cv2.invertAffineTransform(self.to_crop(size))


def face_square(eyes, margin: float) -> Square:
    """The square around a face whose eye centres are `eyes` = (x1, y1, x2, y2), in either order.

    It is tilted with the eye line, so cutting it levels the eyes; `margin` widens it by that
    fraction of the face square on each side.
    """
    (ax, ay), (bx, by) = sorted([(eyes[0], eyes[1]), (eyes[2], eyes[3])])
    dx, dy = bx - ax, by - ay
    # "below the eyes" is perpendicular to the eye line: (-dy, dx) is that direction, eye distance long
    return Square(
        cx=(ax + bx) / 2 - CENTRE_BELOW_EYES * dy,
        cy=(ay + by) / 2 + CENTRE_BELOW_EYES * dx,
        side=FACE_SIDE * math.hypot(dx, dy) * (1 + 2 * margin),
        angle=math.degrees(math.atan2(dy, dx)),
    )


def eye_distance(eyes) -> float:
    """The distance between the eye centres (x1, y1, x2, y2); NaN when they are unknown."""
    return math.hypot(eyes[2] - eyes[0], eyes[3] - eyes[1])


def eyes_from_box(box, spacing: float, eyes_above_centre: float) -> np.ndarray:
    """Level eyes estimated from a face box (x, y, w, h), for a detector whose boxes put the eyes
    `spacing` box widths apart and `eyes_above_centre` box widths above the box centre."""
    x, y, w, h = box
    mx, my = x + (w - 1) / 2, y + (h - 1) / 2 - eyes_above_centre * w
    half = spacing * w / 2
    return np.array([mx - half, my, mx + half, my])


def centre_square(shape: tuple[int, int], fraction: float) -> Square:
    """The central square whose side is `fraction` of the image's shorter side."""
    h, w = shape
    return Square((w - 1) / 2, (h - 1) / 2, fraction * min(h, w))


def whole_square(shape: tuple[int, int]) -> Square:
    """The square holding the whole image (a non-square image is padded, never stretched)."""
    h, w = shape
    return Square((w - 1) / 2, (h - 1) / 2, max(h, w))


def cut(image: np.ndarray, square: Square, size: int) -> np.ndarray:
    """The `square` of `image`, upright, as a size x size uint8 crop.

    It is cut at its own resolution (pixels outside the image repeat the border) and only then
    resized, so that a large face shrunk to a small crop is area-averaged rather than aliased.
    """
    side = square.pixels
    patch = cv2.warpAffine(
        image, square.to_patch(), (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return resize(patch, size)


def rescale(image: np.ndarray, factor: float) -> np.ndarray:
    """`image` (H, W[, C]) uint8 scaled by `factor`: area-averaged when shrinking, bilinear when enlarging.
    Each side is rounded and kept at least 1 pixel, so an image of any aspect ratio (a 1 x 2000 strip)
    can be scaled; returns (max(1, round(H * factor)), max(1, round(W * factor))[, C])."""
    h, w = image.shape[:2]
    target = (max(1, round(w * factor)), max(1, round(h * factor)))
    if target == (w, h):
        return image
    return cv2.resize(image, target, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """`image` as size x size: area-averaged when shrinking, bilinear when enlarging."""
    if image.shape == (size, size):
        return image
    interp = cv2.INTER_AREA if min(image.shape) > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)
