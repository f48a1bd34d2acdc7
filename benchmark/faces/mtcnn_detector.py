"""`detector=mtcnn`: the MTCNN cascade of CNNs (the `mtcnn` package), faces with eye landmarks.

TensorFlow is imported only when MTCNN actually runs (`_load_network`): the import costs ~5 s and
~600 MB, and importing it before `torch._dynamo` can crash CUDA builds of torch, so neither
`import benchmark.faces` nor the other detectors may pull it in. With the detection cache, a sweep
imports it at most once per data set and setting.
"""

from __future__ import annotations

import os
from importlib.metadata import version
from importlib.util import find_spec

import numpy as np

from benchmark.faces.base import FaceDetector, Found
from core import validation as check
from core.extras import require


class MTCNNDetector(FaceDetector):
    """Faces and eye centres from MTCNN (P-Net, R-Net, O-Net), on CPU.

    min_face_size: the smallest face side in pixels (at most 20: mtcnn 1.0's image pyramid shrinks
      the image below P-Net's 12-pixel input for larger values, which fails).
    thresholds: the confidence thresholds of P-Net, R-Net and O-Net (the last one is what a
      returned face has at least).
    batch_size: images passed to MTCNN at once (consecutive images of the same size only, so the
      detections equal those of one image at a time; batches of 16 are ~2.5x faster on CPU).
    Plus the common parameters of `FaceDetector`.
    """

    name = "mtcnn"
    # JAFFE: boxes are 2.15 eye distances wide (eyes 0.465 box widths apart) with the eyes
    # 0.33 eye distances (0.154 box widths) above the box centre
    box_eyes = (0.465, 0.154)

    def __init__(self, min_face_size: int = 20, thresholds=(0.6, 0.7, 0.8), batch_size: int = 16, **common):
        require("mtcnn", "detector=mtcnn")
        super().__init__(**common)
        self.min_face_size = check.number("min_face_size", min_face_size, 1, 20, integer=True)
        self.thresholds = check.numbers("thresholds", thresholds, 3, low=0, high=1, low_open=True)
        self.batch_size = check.number("batch_size", batch_size, 1, integer=True)

    def detection_params(self) -> dict:
        return {
            **super().detection_params(),
            "min_face_size": self.min_face_size,
            "thresholds": self.thresholds,
            "mtcnn": version("mtcnn"),
        }

    def params(self) -> dict:
        return {**super().params(), "batch_size": self.batch_size}

    def find(self, image: np.ndarray) -> Found:
        return self.find_all([image])[0]

    def find_all(self, images) -> list[Found]:
        """MTCNN on batches of consecutive same-size images (what it can batch without padding)."""
        if getattr(self, "_network", None) is None:
            self._network = _load_network()
        pnet, rnet, onet = self.thresholds
        out = [Found.none()] * len(images)
        for batch in same_shape_batches(images, self.batch_size):
            found = self._network.detect_faces(
                [np.repeat(images[i][..., None], 3, axis=2) for i in batch],
                min_face_size=self.min_face_size,
                threshold_pnet=pnet,
                threshold_rnet=rnet,
                threshold_onet=onet,
            )
            for i, faces in zip(batch, found):
                if faces:
                    out[i] = Found(
                        np.array([f["box"] for f in faces], float),
                        np.array([[*f["keypoints"]["left_eye"], *f["keypoints"]["right_eye"]] for f in faces], float),
                        np.array([f["confidence"] for f in faces], float),
                    )
        return out

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_network"}  # TensorFlow models cannot be pickled


def same_shape_batches(images, batch_size: int):
    """Index lists of at most `batch_size` consecutive images of one shape (MTCNN pads a mixed
    batch to its largest image, which would change the detections)."""
    batch: list[int] = []
    for i, image in enumerate(images):
        if batch and (len(batch) == batch_size or image.shape != images[batch[0]].shape):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _load_network():
    """Import TensorFlow and build MTCNN, quietly.

    `torch._dynamo` is imported first (~3 s): a deep method may need it later in this process, and
    importing it after TensorFlow can crash CUDA builds of torch.
    """
    if find_spec("torch") is not None:
        import torch._dynamo  # noqa: F401
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ info and warning logs
    # oneDNN off: no start-up notice, and results that do not depend on oneDNN's summation order
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    from mtcnn import MTCNN

    return MTCNN(device="CPU:0")
