"""What the Haar and MTCNN detectors share: from detections to crops, the no-face policy, the cache
and the report.

A subclass only finds faces: `detect` returns, per image, the chosen face box and (when found) the
two eye centres. Everything after that is here, so both detectors crop, align, preprocess, cache and
report in exactly the same way.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from benchmark.datasets.base import Dataset
from benchmark.faces import cache
from benchmark.faces.geometry import (
    Square,
    centre_square,
    cut,
    eye_distance,
    eyes_from_box,
    face_square,
    rescale,
    whole_square,
)
from benchmark.faces.preprocess import Preprocess
from core import validation as check

log = logging.getLogger(__name__)

SELECT = ("largest", "most_confident")
NO_FACE_POLICIES = ("center_crop", "whole_image", "drop")


@dataclass
class Detections:
    """Per image: the chosen face box (x, y, w, h), its eye centres (x1, y1, x2, y2) and how many
    faces were found; NaN rows where no face (or no eyes) was found. This is what the cache stores."""

    boxes: np.ndarray
    eyes: np.ndarray
    n_faces: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Detections:
        return cls(np.full((n, 4), np.nan), np.full((n, 4), np.nan), np.zeros(n, dtype=np.int64))

    @classmethod
    def from_arrays(cls, arrays: dict | None, ids: np.ndarray) -> Detections | None:
        """The detections stored in a cache entry, or None unless it is complete and made for `ids`."""
        n = len(ids)
        expected = {"boxes": (n, 4), "eyes": (n, 4), "n_faces": (n,), "ids": (n,)}
        if arrays is None or any(name not in arrays or arrays[name].shape != shape for name, shape in expected.items()):
            return None
        if any(arrays[name].dtype.kind not in "fiu" for name in ("boxes", "eyes", "n_faces")):
            return None
        if not np.array_equal(arrays["ids"], np.asarray(ids).astype(str)):
            return None
        return cls(arrays["boxes"].astype(float), arrays["eyes"].astype(float), arrays["n_faces"].astype(np.int64))

    def to_arrays(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        return {"boxes": self.boxes, "eyes": self.eyes, "n_faces": self.n_faces, "ids": np.asarray(ids).astype(str)}


@dataclass
class Found:
    """Every face a detector found in one image: boxes (n, 4) as x, y, w, h in pixels; eye centres
    (n, 4) as x1, y1, x2, y2 (a NaN row where the eyes were not found or not searched); scores (n,),
    the detector's confidence (MTCNN's probability, the Haar cascade's count of merged detections)."""

    boxes: np.ndarray
    eyes: np.ndarray
    scores: np.ndarray

    @classmethod
    def none(cls) -> Found:
        return cls(np.zeros((0, 4)), np.zeros((0, 4)), np.zeros(0))

    def __len__(self) -> int:
        return len(self.boxes)

    def scaled(self, factor: float) -> Found:
        """The same faces in an image `factor` times as large (e.g. found on a downscaled copy)."""
        return Found(self.boxes * factor, self.eyes * factor, self.scores)

    def mapped(self, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> Found:
        """The same faces in another image's pixels: x -> x * sx + dx, y -> y * sy + dy (widths and
        heights scaled only), e.g. from a scaled copy of a tile back to the photo it was cut from."""
        boxes = self.boxes * (sx, sy, sx, sy) + (dx, dy, 0.0, 0.0)
        return Found(boxes, self.eyes * (sx, sy, sx, sy) + (dx, dy, dx, dy), self.scores)

    def take(self, index) -> Found:
        """The faces at `index` (an index array or boolean mask), in that order."""
        return Found(self.boxes[index], self.eyes[index], self.scores[index])

    @classmethod
    def concat(cls, parts: list[Found]) -> Found:
        """The faces of all `parts`, one after another."""
        if not parts:
            return cls.none()
        return cls(*(np.concatenate([getattr(p, a) for p in parts]) for a in ("boxes", "eyes", "scores")))


def pick(boxes, scores, select: str) -> int:
    """The index of the face to keep among several: the largest box, or the most confident one."""
    if select == "largest":
        return int(np.argmax([w * h for _, _, w, h in boxes]))
    return int(np.argmax(scores))


class FaceDetector:
    """Detect, align, crop and preprocess the faces of a data set; cache the detections.

    size: side of the square crops in pixels (default 96: enough for LBP/HOG cells on JAFFE's
      ~150-pixel faces, at a fraction of the cost of larger crops; set 48 to match FER2013).
    margin: extra border around the face square (eyebrows to chin), as a fraction of its side on
      each side (0.1 keeps the whole chin and some forehead).
    align: rotate each face so that its eyes are level (else crops are cut from the face box).
    select: which face to keep when several are found: largest | most_confident.
    on_no_face: center_crop (the central `center_fraction` of the image) | whole_image | drop
      (removed from the data set and listed in the report under "dropped").
    equalize, clahe_clip, clahe_tile, denoise, denoise_strength: see `Preprocess`.
    cache_dir: folder of the detection cache, or None to detect on every call.
    """

    #: the name in configs, reports and cache file names
    name = "detector"
    #: how this detector's boxes relate to the eyes (see `eyes_from_box`), measured on JAFFE
    #: against MTCNN's eye landmarks; used for faces whose eyes were not found
    box_eyes: tuple[float, float]

    def __init__(
        self,
        size: int = 96,
        margin: float = 0.1,
        align: bool = True,
        select: str = "largest",
        on_no_face: str = "center_crop",
        center_fraction: float = 0.6,
        equalize: str = "none",
        clahe_clip: float = 2.0,
        clahe_tile: int = 8,
        denoise: bool = False,
        denoise_strength: float = 5.0,
        cache_dir: str | None = ".cache/ferbench",
    ):
        self.size = check.number("size", size, 8, integer=True)
        self.margin = check.number("margin", margin, 0)
        self.align = check.flag("align", align)
        self.select = check.choice("select", select, SELECT)
        self.on_no_face = check.choice("on_no_face", on_no_face, NO_FACE_POLICIES)
        self.center_fraction = check.number("center_fraction", center_fraction, 0, 1, low_open=True)
        self.preprocess = Preprocess(equalize, clahe_clip, clahe_tile, denoise, denoise_strength)
        self.cache_dir = cache_dir

    @property
    def smallest_face(self) -> int:
        """The side in pixels of the smallest face `find` looks for, in the image it is given (a photo
        is searched on a copy scaled so that the smallest face wanted is this large:
        `benchmark.faces.search`)."""
        return int(getattr(self, "min_face_size", 1))

    # -- to be provided by a detector ----------------------------------------------------------
    def detection_params(self) -> dict:
        """The parameters that change what `detect` finds (and so the cache key), as JSON values."""
        return {"select": self.select}

    def find(self, image: np.ndarray) -> Found:
        """Every face in one 2-D uint8 grey image, with its eyes when `align` is on."""
        raise NotImplementedError

    def find_all(self, images) -> list[Found]:
        """`find` for each image (a detector may batch them)."""
        return [self.find(image) for image in images]

    # -- the data-set path: one face an image --------------------------------------------------
    def detect(self, images) -> Detections:
        """The face kept (`select`) in each image, with its eyes and how many were found."""
        out = Detections.empty(len(images))
        for i, found in enumerate(self.find_all(images)):
            if len(found):
                j = pick(found.boxes, found.scores, self.select)
                out.boxes[i], out.eyes[i], out.n_faces[i] = found.boxes[j], found.eyes[j], len(found)
        return out

    def crop(self, image: np.ndarray, box, eyes) -> tuple[np.ndarray, str, Square | None]:
        """The preprocessed size x size crop of one face of `image` (box and eyes as in `Found`; NaN
        for a face not found), how it was placed (aligned, box, no_face or dropped: then the crop is
        blank), and the square it was cut from (None when dropped)."""
        square, status = self._square(image.shape, np.asarray(box, float), np.asarray(eyes, float))
        if square is None:
            return np.zeros((self.size, self.size), np.uint8), status, None
        return self.preprocess(cut(image, square, self.size)[None])[0], status, square

    def crop_whole(self, image: np.ndarray) -> tuple[np.ndarray, str, Square]:
        """The whole 2-D uint8 `image` as one face crop (a ready-made crop): padded to a square with its
        edge pixels repeated (never stretched), resized to size x size and preprocessed; the status
        "whole_image" and the square of the image it covers (`whole_square`). An image far larger
        than the crop is area-averaged down first, so any size and aspect ratio costs little."""
        square = whole_square(image.shape)
        factor = 2 * self.size / max(image.shape)
        small = rescale(image, factor) if factor < 1 else image
        return self.preprocess(cut(small, whole_square(small.shape), self.size)[None])[0], "whole_image", square

    # -- the face stage --------------------------------------------------------------------------
    def params(self) -> dict:
        """Every parameter of this detector, as reported in the run record."""
        return {
            **self.detection_params(),
            "align": self.align,
            "size": self.size,
            "margin": self.margin,
            "on_no_face": self.on_no_face,
            "center_fraction": self.center_fraction,
            **self.preprocess.params(),
        }

    def __call__(self, dataset: Dataset) -> tuple[Dataset, dict]:
        detections, cache_state = self.detections(dataset)
        crops, status = self._crops(dataset.images, detections)
        keep = np.flatnonzero(status != "dropped")
        faces = dataclasses.replace(dataset.subset(keep), images=self.preprocess(crops[keep]))
        return faces, self._report(dataset, detections, status, cache_state)

    def detections(self, dataset: Dataset) -> tuple[Detections, str]:
        """The detections of `dataset`, from the cache when a valid entry exists; and "hit", "miss" or "off"."""
        if self.cache_dir is None:
            return self.detect(dataset.images), "off"
        key = cache.entry_key(cache.data_digest(dataset.images, dataset.ids), self.name, self.detection_params())
        path = cache.entry_path(self.cache_dir, self.name, key)
        detections = Detections.from_arrays(cache.read(path), dataset.ids)
        if detections is not None:
            return detections, "hit"
        if path.exists():
            log.warning("face cache entry %s is unreadable or does not match the data set; detecting again", path)
        detections = self.detect(dataset.images)
        try:
            cache.write(path, detections.to_arrays(dataset.ids))
        except OSError as exc:  # a read-only or full disk costs the next run a detection, not this run
            log.warning("could not write the face cache entry %s: %s", path, exc)
        return detections, "miss"

    def _crops(self, images, detections: Detections) -> tuple[np.ndarray, np.ndarray]:
        """The (N, S, S) crops, and per image how it was cut: aligned, box, no_face or dropped (crop left blank)."""
        crops = np.zeros((len(images), self.size, self.size), dtype=np.uint8)
        status = np.empty(len(images), dtype=object)
        for i, image in enumerate(images):
            square, status[i] = self._square(image.shape, detections.boxes[i], detections.eyes[i])
            if square is not None:
                crops[i] = cut(image, square, self.size)
        return crops, status

    def _square(self, shape, box, eyes):
        """Where to cut one image's crop, and how it was placed."""
        if self.align and eye_distance(eyes) >= 1:  # False for NaN (eyes not found) and coinciding eyes
            return face_square(eyes, self.margin), "aligned"
        if not np.isnan(box[0]):
            return face_square(eyes_from_box(box, *self.box_eyes), self.margin), "box"
        if self.on_no_face == "center_crop":
            return centre_square(shape, self.center_fraction), "no_face"
        if self.on_no_face == "whole_image":
            return whole_square(shape), "no_face"
        return None, "dropped"

    def _report(self, dataset: Dataset, detections: Detections, status: np.ndarray, cache_state: str) -> dict:
        ids = lambda mask: [str(i) for i in dataset.ids[mask]]  # noqa: E731
        found = ~np.isnan(detections.boxes[:, 0])
        not_aligned = ids(status == "box") if self.align else []
        return {
            "detector": self.name,
            **self.params(),
            "policy": self.on_no_face,
            "n_images": len(dataset),
            "n_detected": int(found.sum()),
            "detection_rate": float(found.mean()) if len(dataset) else None,
            "n_multiple_faces": int((detections.n_faces > 1).sum()),
            "no_face": ids(~found),
            "dropped": ids(status == "dropped"),
            "n_not_aligned": len(not_aligned),
            "not_aligned": not_aligned,
            "cache": cache_state,
        }
