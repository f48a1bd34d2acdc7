"""Models as users bring them, and what their answers show: a foreign or damaged model file is a one-line
error that says what ferbench needs (never a parser's traceback); a label is always the class of the highest
score shown; scores that are not probabilities are called scores (picture, JSON, API); faces are numbered on
the picture in the order of the JSON and the page. Every model file here is made by the test."""

from __future__ import annotations

import socket
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmark.inference import annotate
from benchmark.inference.models import load_model, save_model
from benchmark.inference.pipeline import Face, FacePipeline
from core.errors import ConfigError
from core.io import SHIPPED_ROOT
from core.labels import CLASS_NAMES
from tests.serving import CODES, SIDE, noise_crops, svm_model

CHECKPOINT = SHIPPED_ROOT / "results/models/fer2013__fernet/fit-000/model.pt"  # a committed CNN checkpoint


def one_line_error(source) -> str:
    with pytest.raises(ConfigError) as caught:
        load_model(source)
    message = str(caught.value)
    assert message and "\n" not in message and "Traceback" not in message, message
    return message


# -- model files: foreign and damaged ------------------------------------------------------------------


def export(path: Path, module, example, input_name: str, metadata: dict | None = None) -> Path:
    """`module` exported by torch's own exporter, as a model zoo's ONNX file is (no ferbench metadata), or
    with `metadata` set as ferbench's exports have it."""
    import onnx
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its successor
        torch.onnx.export(
            module.eval(),
            (example,),
            str(path),
            dynamo=False,
            input_names=[input_name],
            output_names=["scores"],
            dynamic_axes={input_name: {0: "batch"}, "scores": {0: "batch"}},
        )
    if metadata is not None:
        proto = onnx.load(str(path))
        onnx.helper.set_model_props(proto, metadata)
        onnx.save(proto, str(path))
    return path


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    """zoo.onnx: a float (N, 1, 64, 64) model without metadata, as model zoos have them; crops.onnx: a model
    of uint8 crops 'images' (N, 8, 8) with ferbench's metadata; named.onnx: the same with class names
    instead of ferbench's codes."""
    import torch
    from torch import nn

    folder = tmp_path_factory.mktemp("onnx")

    class Zoo(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64 * 64, 8)

        def forward(self, x):
            return self.fc(x.flatten(1))

    class Crops(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.fc = nn.Linear(SIDE * SIDE, len(CODES))

        def forward(self, images):
            return torch.softmax(self.fc(images.float().flatten(1) / 255), dim=1)

    crops = torch.zeros(2, SIDE, SIDE, dtype=torch.uint8)
    return {
        "zoo": export(folder / "zoo.onnx", Zoo(), torch.zeros(1, 1, 64, 64), "Input3"),
        "crops": export(folder / "crops.onnx", Crops(), crops, "images", {"classes": str(CODES)}),
        "named": export(folder / "named.onnx", Crops(), crops, "images", {"classes": '["neutral", "happiness"]'}),
        "zoo_with_classes": export(
            folder / "zoo_classes.onnx", Zoo(), torch.zeros(1, 1, 64, 64), "Input3", {"classes": "[0, 1]"}
        ),
    }


def test_a_ferbench_style_onnx_loads_and_a_model_zoos_is_refused_saying_what_is_needed(onnx_files):
    model = load_model(onnx_files["crops"])  # what ferbench needs, and no more: it loads and predicts
    assert model.classes == ["angry", "disgust", "fear", "happy"] and model.input_size == SIDE
    assert len(model.predict(np.zeros((3, SIDE, SIDE), np.uint8))) == 3

    message = one_line_error(onnx_files["zoo"])  # was KeyError: 'classes'
    assert "zoo.onnx is not an ONNX export of ferbench: it has no 'classes'" in message
    assert "'Input3' float32 (batch, 1, 64, 64)" in message and "deep.export.export_onnx" in message
    assert "uint8 face crops (N, S, S) as input 'images'" in message
    assert "takes other inputs" in one_line_error(onnx_files["zoo_with_classes"])
    assert "not ferbench's class codes" in one_line_error(onnx_files["named"])


def skops_file(folder: Path) -> Path:
    from sklearn.svm import SVC

    from benchmark.methods import pipeline
    from features import PixelFeatures

    crops, labels = noise_crops(40, seed=1)
    estimator = pipeline({"pixels": PixelFeatures(SIDE), "svm": SVC()}).fit(crops, labels)
    return save_model(estimator, folder / "svm", {"face_stage": {"detector": "none"}, "input_size": SIDE})


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, onnx_files):
    """One whole file of each kind ferbench loads, all made here but the committed CNN checkpoint."""
    folder = tmp_path_factory.mktemp("models")
    record = folder / "record.json"
    record.write_text('{"folds": [{"name": "fold0"}], "models": {"fold0": "svm.skops"}}')
    return {".onnx": onnx_files["crops"], ".pt": CHECKPOINT, ".skops": skops_file(folder), ".json": record}


@pytest.mark.parametrize("suffix", [".pt", ".onnx", ".skops", ".json"])
@pytest.mark.parametrize("keep", [0.0, 0.02, 0.5, 0.999])
def test_a_truncated_model_file_is_a_one_line_error(tmp_path, model_files, suffix, keep):
    whole = model_files[suffix]
    load_model(whole)  # the whole file loads
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(len(data) * keep)] if keep < 0.999 else data[:-1])
    message = one_line_error(cut)
    assert f"{cut} is not a complete" in message and ("copy it again" in message or "not JSON" in message)


@pytest.mark.parametrize("content,suffix", [(".skops", ".pt"), (".pt", ".skops"), (".pt", ".onnx"), (".pt", ".json")])
def test_a_model_file_of_another_kind_is_a_one_line_error(tmp_path, model_files, content, suffix):
    misnamed = tmp_path / f"model{suffix}"
    misnamed.write_bytes(model_files[content].read_bytes())
    assert str(misnamed) in one_line_error(misnamed)


def test_the_server_command_refuses_a_foreign_model_in_one_line(onnx_files, capsys):
    from benchmark.serve import main

    with socket.socket() as probe:  # a port free now, so that only the model is wrong
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main([f"model={onnx_files['zoo']}", f"port={port}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "is not an ONNX export of ferbench" in err


# -- a label is the class of the highest score shown -----------------------------------------------


def faces_of(crops: np.ndarray) -> list[Face]:
    return [Face((10.0 * i, 5.0, 40.0, 40.0), None, "box", crop, None, 1.0) for i, crop in enumerate(crops)]


@pytest.mark.parametrize("kind", ["platt", "decision"])
def test_a_label_is_the_class_of_the_highest_score_shown(kind):
    model = svm_model(kind)
    crops = noise_crops(300, seed=5)[0]
    shown = model.predict_proba(crops)
    own = [CLASS_NAMES[c] for c in model.estimator.predict(crops)]  # the SVM's own answer
    highest = [model.classes[i] for i in shown.argmax(axis=1)]
    assert own != highest  # they disagree on some crops: the case of the fault
    assert model.predict(crops) == highest
    faces = FacePipeline(model).classify(faces_of(crops[:40]))  # as every photo is classified
    for face in faces:
        scores = face.to_json(model.classes, model.calibrated)["probabilities" if kind == "platt" else "scores"]
        assert face.label == max(scores, key=scores.get)


def test_a_saved_svm_keeps_its_scores_uncalibrated_and_its_labels_the_highest(tmp_path):
    model = load_model(skops_file(tmp_path))
    assert model.calibrated is False and model.score_name == "score"
    crops = noise_crops(300, seed=5)[0]
    assert model.predict(crops) == [model.classes[i] for i in model.predict_proba(crops).argmax(axis=1)]


# -- what the picture and the JSON say -------------------------------------------------------------


def classified(probabilities: list[list[float]]) -> list[Face]:
    faces = faces_of(np.zeros((len(probabilities), SIDE, SIDE), np.uint8))
    for face, p in zip(faces, probabilities):
        face.probabilities = np.asarray(p, np.float32)
        face.label = CLASS_NAMES[CODES[int(np.argmax(p))]]
    return faces


def drawn_texts(monkeypatch, faces, **options) -> list[str]:
    texts = []
    real = cv2.putText
    monkeypatch.setattr(annotate.cv2, "putText", lambda img, text, *a, **k: texts.append(text) or real(img, text, *a))
    picture = annotate.draw(np.zeros((120, 160, 3), np.uint8), faces, **options)
    assert picture.any()  # boxes and labels were painted
    return texts


def test_faces_are_numbered_on_the_picture_in_the_order_of_the_json(monkeypatch):
    faces = classified([[0.05, 0.05, 0.1, 0.8], [0.6, 0.2, 0.1, 0.1]])
    assert drawn_texts(monkeypatch, faces) == ["1: happy 80%", "2: angry 60%"]  # the page's Face 1, Face 2
    assert drawn_texts(monkeypatch, faces, track_ids=[7, 3]) == ["#7 happy 80%", "#3 angry 60%"]  # a video's ids


def test_uncalibrated_scores_are_called_scores_on_the_picture_and_in_the_json(monkeypatch):
    faces = classified([[0.05, 0.65, 0.1, 0.2]])
    assert drawn_texts(monkeypatch, faces, calibrated=False) == ["1: disgust score 0.65"]  # never "65%"
    as_json = faces[0].to_json([CLASS_NAMES[c] for c in CODES], calibrated=False)
    assert "probabilities" not in as_json and as_json["scores"]["disgust"] == 0.65
    assert "probabilities" in faces[0].to_json([CLASS_NAMES[c] for c in CODES])


def test_the_api_says_scores_for_an_uncalibrated_model():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from benchmark.api import create_app
    from tests.serving import astronaut, encode

    model = svm_model("decision")
    with TestClient(create_app(FacePipeline(model))) as client:
        health = client.get("/api/health").json()
        assert health["calibrated"] is False and health["score_name"] == "score"
        response = client.post("/api/predict", files={"file": ("a.png", encode(astronaut(), "PNG"), "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    [face] = body["faces"]
    assert body["calibrated"] is False and "probabilities" not in face
    assert face["label"] == max(face["scores"], key=face["scores"].get)
