"""ONNX export of a fitted `CNNClassifier`, and onnxruntime inference on raw images.

The exported graph takes what the benchmark feeds the estimator, a uint8 stack (N, H, W), and
returns class probabilities: the pixel normalisation and the estimator's test-time views are
inside the graph, and the class codes are stored in the model's metadata, so a deployment needs
neither torch nor ferbench. A model trained with `image_size` takes images of that side: the
metadata holds it (`image_size`, null when images go in as they are), and `OnnxClassifier`
resizes as `CNNClassifier` does (area averaging, `features.resize_stack`) before the graph.
torch's TorchScript-based exporter is used (`dynamo=False`): the torch.export-based one needs the
onnxscript package, which ferbench does not depend on.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from core.images import image_stack
from deep.augment import TestTimeAugment
from features import resize_stack

OPSET = 18


class _Deployed(nn.Module):
    """uint8 images (N, H, W) -> probabilities (N, K), exactly as `CNNClassifier.predict_proba` computes them."""

    def __init__(self, model: nn.Module, mean: float, std: float, tta: str, size: tuple[int, int]):
        super().__init__()
        self.views, self.mean, self.std = TestTimeAugment(model, tta, size), mean, std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.views(((images.float() - self.mean) / self.std).unsqueeze(1))


def export_onnx(estimator, path) -> Path:
    """Write the fitted `estimator` as an ONNX model (float32, dynamic batch size, the training image
    size); its metadata holds the classes, the image size and the estimator's `metadata_` (the face
    stage its training crops came from, when it was saved with one)."""
    import onnx

    check_is_fitted(estimator, "model_")
    model = copy.deepcopy(estimator.model_).cpu().float().to(memory_format=torch.contiguous_format).eval()
    deployed = _Deployed(model, estimator.mean_, estimator.std_, estimator.tta_mode, tuple(estimator.image_shape_))
    example = torch.zeros(2, *estimator.image_shape_, dtype=torch.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter announces its successor
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shapes traced as constants: the size is fixed
        torch.onnx.export(
            deployed,
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["images"],
            output_names=["probabilities"],
            dynamic_axes={"images": {0: "batch"}, "probabilities": {0: "batch"}},
        )
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(
        proto,
        {
            "classes": json.dumps(estimator.classes_.tolist()),
            "producer": "ferbench",
            "image_size": json.dumps(estimator.image_size),
            "metadata": json.dumps(getattr(estimator, "metadata_", {})),
        },
    )
    onnx.save(proto, str(path))
    return path


class OnnxClassifier:
    """`predict` / `predict_proba` on uint8 images with onnxruntime, for a model written by `export_onnx`."""

    def __init__(self, path, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        #: the file the session was read from (it may be gone: a temporary export)
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.classes_ = np.asarray(json.loads(meta["classes"]))
        self.image_size = json.loads(meta.get("image_size", "null"))
        self.metadata_ = json.loads(meta.get("metadata", "{}"))
        #: the side of the images to give `predict_proba` (the graph's own, or `image_size` it resizes to)
        self.input_size = self.image_size or self.session.get_inputs()[0].shape[1]

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities (N, K) float32 of a uint8 stack (`core.images.image_stack`: the graph's size, or any
        size when the model was trained with `image_size`, which it is resized to)."""
        X = image_stack(X, None if self.image_size is not None else self.input_size, "this ONNX model")
        if self.image_size is not None:
            X = resize_stack(X, self.image_size)
        return self.session.run(None, {"images": X})[0]

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]
