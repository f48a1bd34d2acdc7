"""Where, and at which scale, the faces of a photo of any size and aspect ratio are looked for.

A detector finds faces down to its own smallest side (`FaceDetector.smallest_face`: Haar's
`min_face_size`, 30 pixels by default) in the image it is given. A photo is searched on a copy scaled
so that a face of `min_face` pixels of the photo becomes that smallest side:

- scale: smallest_face / min_face, but never below the scale of a copy whose longer side is
  `detect_side` (a copy that small costs little to search; the whole photo when it is smaller) nor
  above `MAX_UPSCALE`. `min_face` None searches that `detect_side` copy only.
- a copy whose shorter side is below the detector's smallest face can hold no face: nothing is
  searched (a 1 x 2000 strip, a 3000 x 1 line), so any aspect ratio gives an answer, never an error.
- a copy whose longer side exceeds `tile_side` is searched in overlapping tiles (memory and the time
  of one detector call stay bounded), and once whole on a coarser copy for the faces too large to
  lie whole inside a tile overlap; a face found twice (in two tiles, or in a tile and the coarse
  copy) is kept once (`deduplicate`).
"""

from __future__ import annotations

import math

import numpy as np

from benchmark.faces.base import FaceDetector, Found
from benchmark.faces.geometry import rescale

#: the largest enlargement of a photo for detection (a `min_face` below the detector's smallest face)
MAX_UPSCALE = 4.0
#: boxes overlapping more than this (intersection over union) are one face found twice
SAME_FACE_IOU = 0.3


def detection_scale(shape: tuple[int, int], smallest: int, min_face: float | None, detect_side: int) -> float:
    """The factor by which a photo of `shape` (H, W) is scaled for a detector whose smallest face is
    `smallest` pixels, so that faces of `min_face` photo pixels are found (see the module docstring)."""
    floor = min(1.0, detect_side / max(shape))
    if min_face is None:
        return floor
    return min(MAX_UPSCALE, max(floor, smallest / min_face))


def find_faces(
    detector: FaceDetector,
    gray: np.ndarray,
    min_face: float | None,
    detect_side: int,
    tile_side: int,
) -> Found:
    """Every face of the (H, W) uint8 grey photo `gray` that `detector` finds, searched as the module
    docstring says; boxes and eyes in the photo's pixels. `min_face`: the smallest face side wanted,
    in photo pixels (None: the `detect_side` copy only); `detect_side`, `tile_side`: longer sides in
    pixels of the smallest copy searched and of one detector call. An image too thin for the
    smallest face gives no face."""
    smallest = detector.smallest_face
    factor = detection_scale(gray.shape, smallest, min_face, detect_side)
    if min(gray.shape) * factor < smallest:
        return Found.none()
    if max(gray.shape) * factor <= tile_side:
        return _search(detector, gray, factor)
    # the coarse copy: as small as detect_side allows, but fine enough that the faces it can miss
    # (below twice its smallest face) fit four times in a tile's side, so the overlap can hold them
    coarse = max(detection_scale(gray.shape, smallest, None, detect_side), 8 * smallest * factor / tile_side)
    if coarse >= factor:
        return _search(detector, gray, factor)
    overlap = math.ceil(2 * smallest * factor / coarse)  # in pixels of the copy at `factor`
    found = [_search(detector, gray, coarse)] if min(gray.shape) * coarse >= smallest else []
    side = tile_side / factor  # in photo pixels
    for y0, y1 in tiles(gray.shape[0], side, overlap / factor):
        for x0, x1 in tiles(gray.shape[1], side, overlap / factor):
            tile = gray[y0:y1, x0:x1]
            if min(tile.shape) * factor >= smallest:
                found.append(_search(detector, tile, factor, x0, y0))
    return deduplicate(Found.concat(found))


def _search(detector: FaceDetector, gray: np.ndarray, factor: float, dx: int = 0, dy: int = 0) -> Found:
    """The faces of `gray` scaled by `factor`, in the pixels of the photo `gray` was cut from at (dx, dy)."""
    copy = rescale(gray, factor)
    found = detector.find(copy)
    sy, sx = gray.shape[0] / copy.shape[0], gray.shape[1] / copy.shape[1]
    return found.mapped(sx, sy, dx, dy)


def tiles(length: int, side: float, overlap: float) -> list[tuple[int, int]]:
    """[start, stop) spans covering 0..length with as few spans of at most `side` as overlap by at
    least `overlap`, all of one length, evenly spread (lengths in pixels; side > overlap)."""
    if length <= side:
        return [(0, length)]
    n = math.ceil((length - overlap) / (side - overlap))
    span = min(length, math.ceil((length + (n - 1) * overlap) / n))
    starts = np.round(np.linspace(0, length - span, n)).astype(int)
    return [(int(s), int(s) + span) for s in starts]


def deduplicate(found: Found, iou: float = SAME_FACE_IOU) -> Found:
    """`found` with each face found more than once kept once: of boxes overlapping by more than `iou`
    (intersection over union), the one with eyes found, then the highest score, then the largest."""
    if len(found) < 2:
        return found
    area = found.boxes[:, 2] * found.boxes[:, 3]
    has_eyes = ~np.isnan(found.eyes).any(axis=1)
    order = np.lexsort((-area, -found.scores, ~has_eyes))
    keep: list[int] = []
    for i in order:
        if not keep or box_iou(found.boxes[i], found.boxes[keep]).max() <= iou:
            keep.append(int(i))
    return found.take(np.array(keep))


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box (x, y, w, h) with each of `boxes` (n, 4): (n,) in 0-1."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y1 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
