"""Applying models to users' photos: image reading, model loading, the face pipeline, the predict CLI."""

import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image as PILImage

from benchmark.config import shipped_model
from benchmark.inference.models import load_model, shipped
from benchmark.inference.pipeline import FacePipeline
from core.errors import ConfigError
from core.images import ImageError, read_image

ROOT = Path(__file__).resolve().parent.parent
ASTRONAUT = skimage.data.astronaut()  # public domain: Eileen Collins, smiling


def encode(image: PILImage.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def pipeline():
    return FacePipeline(load_model(None, tta="flip"))


# -- reading images -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, fmt",
    [
        ("RGB", "JPEG"),
        ("RGB", "PNG"),
        ("RGB", "WEBP"),
        ("RGB", "BMP"),
        ("RGB", "TIFF"),
        ("RGBA", "PNG"),
        ("P", "PNG"),
        ("L", "PNG"),
        ("CMYK", "JPEG"),
        ("1", "PNG"),
    ],
)
def test_every_common_mode_reads_as_8bit_rgb_and_grey(mode, fmt):
    image = read_image(encode(PILImage.fromarray(ASTRONAUT).convert(mode), fmt))
    assert image.rgb.shape == (512, 512, 3) and image.gray.shape == (512, 512)
    assert image.rgb.dtype == image.gray.dtype == np.uint8
    if mode not in ("1", "P"):
        assert abs(float(image.gray.mean()) - float(cv2.cvtColor(ASTRONAUT, cv2.COLOR_RGB2GRAY).mean())) < 8


def test_16_bit_grey_is_scaled_not_clipped():
    values = np.array([[0, 257, 1000, 32768, 65535]], np.uint16)
    image = read_image(encode(PILImage.fromarray(values), "PNG"))
    np.testing.assert_array_equal(image.gray[0], [0, 1, 4, 128, 255])


def test_transparent_background_becomes_white_not_black():
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    assert read_image(encode(PILImage.fromarray(rgba), "PNG")).gray.min() == 255


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF", "PNG", "WEBP"])
def test_exif_orientation_is_applied_for_every_format(fmt):
    upright = np.zeros((40, 60, 3), np.uint8)
    upright[:10, :10] = 255  # a white corner, top left when upright
    stored = PILImage.fromarray(upright).transpose(PILImage.Transpose.ROTATE_90)  # as a camera held sideways writes it
    exif = PILImage.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    image = read_image(encode(stored, fmt, exif=exif.tobytes()))
    assert image.gray.shape == (40, 60)
    assert image.gray[:10, :10].mean() > 200 and image.gray[-10:, -10:].mean() < 50


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"this is not an image", "unsupported"),
        (encode(PILImage.fromarray(ASTRONAUT), "PNG")[:5000], "corrupt"),
        (encode(PILImage.new("1", (30000, 30000)), "PNG"), "too_large"),
    ],
)
def test_bad_images_are_refused_with_their_reason(data, reason):
    with pytest.raises(ImageError) as err:
        read_image(data)
    assert err.value.reason == reason


# -- models ----------------------------------------------------------------------------------------


def test_shipped_model_carries_its_classes_size_and_framing():
    model = load_model()
    assert model.classes == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert model.input_size == 48 and model.face_stage["detector"] in ("haar", "mtcnn") and model.family == "deep"
    with pytest.raises(ValueError, match="was trained on 48x48 crops and got 96x96 ones"):
        model.predict_proba(np.zeros((2, 96, 96), np.uint8))


def test_the_shipped_model_is_logit_adjusted_by_the_frequencies_its_record_counted():
    """shipped.yaml's logit_adjust: the plain checkpoint's probabilities divided by the FER2013 training
    labels' class frequencies (as the record of the measured run counted them) ** tau, renormalised."""
    import yaml

    from benchmark.inference.models import SHIPPED, read_record
    from core.composites import LogitAdjust, logit_adjust

    manifest = yaml.safe_load(SHIPPED.read_text())
    model, plain = load_model(None, tta="none"), load_model(shipped()["model"], tta="none")
    assert isinstance(model.estimator, LogitAdjust) and model.estimator.tau == manifest["logit_adjust"]["tau"]
    assert model.name == f"{plain.name}, logit-adjusted (tau {model.estimator.tau:g})"
    record = read_record(SHIPPED.parent / manifest["logit_adjust"]["record"])
    counted = record["folds"][0]["fit_details"]["class_prior"]
    np.testing.assert_allclose(model.estimator.class_prior, [counted[c] for c in model.classes], atol=1e-5)
    assert record["config"]["method"]["model"] == shipped_model()  # counted for this very checkpoint
    assert record["config"]["method"]["logit_adjust"] == model.estimator.tau
    crops = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    expected = logit_adjust(plain.predict_proba(crops), model.estimator.class_prior, model.estimator.tau)
    np.testing.assert_allclose(model.predict_proba(crops), expected, atol=1e-6)
    np.testing.assert_allclose(expected.sum(1), 1, atol=1e-6)
    assert model.face_stage == manifest["face_stage"] and model.details["shipped"]


def test_logit_adjustment_is_refused_without_probabilities_or_a_frequency_per_class(tmp_path):
    from benchmark.inference.models import logit_adjusted, prior_of

    model = load_model(shipped()["model"], tta="none")
    prior = {c: 1 / 7 for c in model.classes}
    for bad, key in [
        ({**prior, "angry": 0}, "class_prior.angry"),
        ({**prior, "sad": float("nan")}, "class_prior.sad"),
        ({**prior, "fear": "0.2"}, "class_prior.fear"),
        ({**prior, "happy": True}, "class_prior.happy"),
        ({**prior, "surprise": float("inf")}, "class_prior.surprise"),
        (None, "class_prior"),
        ({c: p for c, p in prior.items() if c != "fear"}, "class_prior"),
        ({**prior, "contempt": 0.5}, "class_prior"),
    ]:
        with pytest.raises(ConfigError) as err:
            logit_adjusted(model, bad, 0.5)
        assert err.value.key == f"logit_adjust.{key}", bad
    for tau in (-1, "0.5", True, float("nan")):
        with pytest.raises(ConfigError, match="logit_adjust.tau"):
            logit_adjusted(model, prior, tau)
    uncalibrated = dataclasses.replace(model, calibrated=False)
    with pytest.raises(ConfigError, match="gives decision values"):
        logit_adjusted(uncalibrated, prior, 0.5)
    (tmp_path / "plain.json").write_text(json.dumps({"folds": [{"fit_details": {}}]}))
    with pytest.raises(ConfigError, match="holds no class_prior"):
        prior_of(tmp_path / "plain.json")
    adjusted = logit_adjusted(model, {**prior, "happy": 4 / 7}, 1.0)
    np.testing.assert_allclose(adjusted.estimator.class_prior, np.array([1, 1, 1, 4, 1, 1, 1]) / 10)  # renormalised
    assert adjusted.details is not model.details
    with pytest.raises(ConfigError, match="logit-adjusted already"):
        logit_adjusted(adjusted, prior, 1.0)
    tiny = logit_adjusted(model, {**prior, "disgust": 1e-40}, 10).predict_proba(np.zeros((1, 48, 48), np.uint8))
    assert np.isfinite(tiny).all() and tiny[0, 1] > 0.999  # no underflow to 0 / 0: disgust, divided by 1e-400


@pytest.mark.parametrize(
    "block, message",
    [
        ({"tau": 0.5}, "logit_adjust must be a mapping with tau"),
        (0.5, "logit_adjust must be a mapping with tau"),
        ({"tau": 0.5, "record": "nope.json"}, "logit_adjust.record .*nope.json is not there"),
        ({"tau": -1, "record": "{record}"}, "logit_adjust.tau must be a number >= 0"),
    ],
)
def test_a_malformed_logit_adjust_block_in_the_manifest_says_what_is_wrong(tmp_path, monkeypatch, block, message):
    import yaml

    from benchmark.inference import models

    manifest = yaml.safe_load(models.SHIPPED.read_text())
    record = models.SHIPPED.parent / manifest["logit_adjust"]["record"]
    manifest["model"] = str(models.SHIPPED.parent / manifest["model"])
    if isinstance(block, dict) and block.get("record") == "{record}":
        block = {**block, "record": str(record)}
    (tmp_path / "shipped.yaml").write_text(yaml.safe_dump({**manifest, "logit_adjust": block}))
    monkeypatch.setattr(models, "SHIPPED", tmp_path / "shipped.yaml")
    with pytest.raises(ConfigError, match=message):
        load_model(None, tta="none")


def test_missing_and_unknown_model_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "model.pkl").write_bytes(b"")
    with pytest.raises(ConfigError, match="unknown model file type"):
        load_model(tmp_path / "model.pkl")


@pytest.mark.parametrize(
    "path, folder",
    [
        ("results/models/fer2013__fernet_seed2/fit-000/model.pt", ("fer2013", "fernet_seed2")),
        ("/home/me/ferbench/results/models/merged__fernet_general", ("merged", "fernet_general")),
        ("results/models/fer2013__timm-resnet18/fit-000/model.pt", ("fer2013", "timm-resnet18")),
        ("results\\models\\fer2013__fernet-cuda\\fit-000\\model.pt", ("fer2013", "fernet-cuda")),
        ("results/models/fer2013_fernet/model.pt", None),
        ("elsewhere/fer2013__fernet/model.pt", None),
    ],
)
def test_a_committed_model_folder_is_found_in_its_path(path, folder):
    from benchmark.inference.models import model_folder

    assert model_folder(path) == folder


class Foreign:
    """A type that is neither scikit-learn's nor ferbench's."""


def test_a_skops_file_with_foreign_types_is_not_loaded(tmp_path):
    import skops.io as sio

    (tmp_path / "evil.skops").write_bytes(sio.dumps({"estimator": Foreign(), "classes": [0]}))
    with pytest.raises(ConfigError, match="neither scikit-learn's nor ferbench's"):
        load_model(tmp_path / "evil.skops")


# -- the pipeline ----------------------------------------------------------------------------------


def test_the_astronaut_smiles(pipeline):
    faces = pipeline(ASTRONAUT)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 140 < x + w / 2 < 320 and 40 < y + h / 2 < 200  # her face, not the badge
    assert faces[0].label == "happy" and faces[0].alignment == "aligned"
    assert faces[0].crop.shape == (48, 48) and faces[0].probabilities.sum() == pytest.approx(1, abs=1e-4)


def test_no_face_is_an_empty_list(pipeline):
    assert pipeline(np.full((300, 400, 3), 127, np.uint8)) == []
    assert pipeline.predict_json(np.zeros((10, 10), np.uint8))["faces"] == []


def test_every_face_left_to_right_in_one_batch(pipeline, monkeypatch):
    pair = np.concatenate([ASTRONAUT, ASTRONAUT[:, ::-1]], axis=1)
    calls = []
    predict = pipeline.model.predict_proba
    monkeypatch.setattr(pipeline.model, "predict_proba", lambda crops: calls.append(len(crops)) or predict(crops))
    faces = pipeline(pair)
    assert len(faces) == 2 and calls == [2] and faces[0].box[0] < faces[1].box[0]
    assert [f.label for f in faces] == ["happy", "happy"]


def test_a_large_photo_is_searched_small_and_cropped_at_full_size(pipeline):
    big = cv2.resize(ASTRONAUT, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    # her face among those found (the blurred folds of an upscaled suit can pass for faces too)
    small = pipeline(ASTRONAUT)[0]
    large = min(pipeline(big), key=lambda f: np.abs(np.array(f.box) / 4 - small.box).sum())
    np.testing.assert_allclose(np.array(large.box) / 4, small.box, atol=6)
    assert large.label == "happy"


def test_a_sideways_phone_photo_is_read_upright(pipeline):
    exif = PILImage.Exif()
    exif[0x0112] = 6
    stored = PILImage.fromarray(ASTRONAUT).transpose(PILImage.Transpose.ROTATE_90)
    faces = pipeline(read_image(encode(stored, "JPEG", exif=exif.tobytes(), quality=95)))
    assert len(faces) == 1 and faces[0].label == "happy"


# -- models saved by runs ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pixels_svm", "lbp_svm"])
def test_a_run_saves_its_models_and_its_record_loads_them(tmp_path, method):
    from benchmark import runner
    from tests.helpers import choices, make_config

    overrides = [
        "dataset.n_subjects=3",
        "dataset.per_class=4",
        "protocol.k=2",
        f"method={method}",
        f"results_dir={tmp_path / 'runs'}",
        "save_model=true",
        f"models_dir={tmp_path / 'models'}",
    ]
    if method == "lbp_svm":
        overrides += ["method.classifier.param_grid.svm__C=[1.0]", "method.classifier.param_grid.svm__gamma=[1.0]"]
    record, path, _ = runner.run(make_config(overrides), choices(overrides))
    assert set(record["models"]) == {"fold0", "fold1"}
    with pytest.raises(ConfigError, match="has a model per fold; name one"):
        load_model(path)
    model = load_model(f"{path}:fold1")
    assert model.face_stage == {"detector": "none", "size": None} and model.input_size == 48
    from benchmark.datasets.synthetic import Synthetic

    data = Synthetic(n_subjects=3, per_class=4).load()
    test = record["predictions"]["fold1"]["test"]
    index = {i: n for n, i in enumerate(data.ids.tolist())}
    crops = data.images[[index[i] for i in test["ids"]]]
    from core.labels import CLASS_NAMES

    assert [CLASS_NAMES[c] for c in model.estimator.predict(crops)] == [CLASS_NAMES[c] for c in test["y_pred"]]
    # the applications' label is the class of the highest score they show (the SVM's vote can name another)
    assert model.predict(crops) == [model.classes[i] for i in model.predict_proba(crops).argmax(axis=1)]
    assert model.calibrated is False  # SVMs: a softmax of decision values, and the JSON says so


def test_a_record_whose_model_is_elsewhere_or_never_saved_says_which(tmp_path):
    moved = tmp_path / "moved.json"  # an older CNN record: its model.pt went to a run_dir not on this machine
    moved.write_text(json.dumps({"folds": [{"name": "official", "fit_details": {"run_dir": "/nowhere/fit-000"}}]}))
    with pytest.raises(ConfigError, match="its run wrote /nowhere/fit-000/model.pt, which is not here; load a model"):
        load_model(moved)
    unsaved = tmp_path / "unsaved.json"
    unsaved.write_text(json.dumps({"folds": [{"name": "fold0"}], "env": {"command": "python -m benchmark"}}))
    with pytest.raises(ConfigError, match="this run saved no model; run its command again with save_model=true"):
        load_model(unsaved)


# -- the command line --------------------------------------------------------------------------------


def test_predict_a_folder_writes_json_and_annotated_images_and_counts_bad_files(tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    PILImage.fromarray(ASTRONAUT).save(photos / "astronaut.jpg")
    PILImage.fromarray(np.full((60, 80), 200, np.uint8)).save(photos / "sub" / "wall.png")
    (photos / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    out = subprocess.run(
        [sys.executable, "-m", "benchmark.predict", str(photos), f"out={tmp_path / 'out'}", "tta=none"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
    )
    assert out.returncode == 1, out.stderr  # one file could not be read
    assert "2 of 3 done, 1 could not be read" in out.stdout and "Traceback" not in out.stderr
    result = json.loads((tmp_path / "out" / "astronaut.jpg.json").read_text())
    assert [f["label"] for f in result["faces"]] == ["happy"]
    assert json.loads((tmp_path / "out" / "sub" / "wall.png.json").read_text())["message"] == "no face found"
    assert (tmp_path / "out" / "astronaut.jpg.annotated.jpg").stat().st_size > 1000
    assert len((tmp_path / "out" / "summary.csv").read_text().splitlines()) == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere.jpg"], "no such file or folder"),
        (["x.jpg", "colour=red"], "unknown option 'colour'"),
        (["x.jpg", "every=0"], "every must be an integer >= 1, got 0"),
        (["x.jpg", "explain=shap"], "explain must be one of occlusion | lime | gradcam"),
    ],
)
def test_predict_refuses_bad_arguments_in_one_line(tmp_path, args, message):
    PILImage.fromarray(ASTRONAUT).save(tmp_path / "x.jpg")
    out = subprocess.run(
        [sys.executable, "-m", "benchmark.predict", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_predict_refuses_gradcam_for_a_model_it_cannot_explain_before_any_photo(tmp_path, capsys):
    from benchmark.inference.models import shipped
    from benchmark.predict import main
    from deep.estimator import CNNClassifier
    from deep.export import export_onnx

    PILImage.fromarray(ASTRONAUT).save(tmp_path / "x.jpg")
    onnx = export_onnx(CNNClassifier.load(shipped()["model"]).set_params(tta="none"), tmp_path / "m.onnx")
    assert main([str(tmp_path / "x.jpg"), f"model={onnx}", "explain=gradcam", f"out={tmp_path / 'out'}"]) == 2
    assert "explain is gradcam, which explains CNNs" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert main([str(tmp_path / "x.jpg"), f"model={onnx}", "explain=occlusion", f"out={tmp_path / 'out'}"]) == 0


def test_predict_a_video_writes_an_annotated_video_and_a_time_aligned_csv(tmp_path):
    frames = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (512, 512))
    for i in range(20):
        frames.write(
            np.full((512, 512, 3), 90, np.uint8) if 8 <= i < 12 else cv2.cvtColor(ASTRONAUT, cv2.COLOR_RGB2BGR)
        )
    frames.release()
    out = subprocess.run(
        [sys.executable, "-m", "benchmark.predict", str(tmp_path / "clip.mp4"), f"out={tmp_path / 'out'}", "every=2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = (tmp_path / "out" / "clip.mp4.csv").read_text().splitlines()
    assert len(rows) == 21 and rows[0].startswith("frame,time_s,face_id")
    assert [r.split(",")[0] for r in rows[1:]] == [str(i) for i in range(20)]  # one row a frame: one face or none
    assert all(r.split(",")[2] == "" for r in rows[9:13]) and rows[1].split(",")[7] == "happy"
    assert (tmp_path / "out" / "clip.mp4.annotated.mp4").stat().st_size > 10_000


# -- every model checks what it is given against what it was trained on ------------------------------


@pytest.fixture(scope="module")
def trained_models(tmp_path_factory):
    """A CNN, its ONNX export and a classical pipeline, each fitted on 48x48 synthetic faces."""
    from benchmark.datasets.synthetic import Synthetic
    from benchmark.methods import pipeline
    from deep.estimator import CNNClassifier
    from deep.export import OnnxClassifier, export_onnx
    from features import PixelFeatures

    data = Synthetic(n_subjects=3, per_class=3).load()
    cnn = CNNClassifier(epochs=1, batch_size=16, n_jobs=1, verbose=0, tta="none").fit(data.images, data.labels)
    from sklearn.svm import LinearSVC

    classical = pipeline({"pixels": PixelFeatures(24), "svm": LinearSVC()}).fit(data.images, data.labels)
    onnx = OnnxClassifier(export_onnx(cnn, tmp_path_factory.mktemp("onnx") / "m.onnx"))
    return {"cnn": cnn.predict, "onnx": onnx.predict, "classical": classical.predict}, data.images


@pytest.mark.parametrize("kind", ["cnn", "onnx", "classical"])
def test_a_model_refuses_faces_of_another_size_than_it_was_trained_on(trained_models, kind):
    predict, images = trained_models[0][kind], trained_models[1]
    assert len(predict(images[:3])) == 3
    larger = np.stack([cv2.resize(image, (96, 96)) for image in images[:3]])
    with pytest.raises(ValueError, match="48x48"):
        predict(larger)


@pytest.mark.parametrize("kind", ["cnn", "onnx"])
def test_the_same_input_rules_for_every_model(trained_models, kind):
    predict, images = trained_models[0][kind], trained_models[1]
    np.testing.assert_array_equal(predict(images[:2, ..., None]), predict(images[:2]))  # a channel axis of 1: fine
    with pytest.raises(ValueError, match=r"pass image\[None\]"):
        predict(images[0])
    with pytest.raises(ValueError, match="uint8 grey levels 0-255, got float32"):
        predict(images[:2].astype(np.float32) / 255)
    with pytest.raises(ValueError, match="convert colour images to grey"):
        predict(np.repeat(images[:2, ..., None], 3, axis=3))


def test_the_shipped_model_refuses_faces_twice_its_size():
    from deep.estimator import CNNClassifier

    model = CNNClassifier.load(ROOT / "results" / "models" / "fer2013__fernet" / "fit-000" / "model.pt")
    with pytest.raises(ValueError, match="trained on 48x48 crops and got 96x96"):
        model.predict(np.zeros((2, 96, 96), np.uint8))


def test_an_average_of_models_spans_the_union_of_their_classes(tmp_path):
    from benchmark.datasets.synthetic import Synthetic
    from deep.estimator import CNNClassifier

    data = Synthetic(n_subjects=3, per_class=3).load()
    paths = []
    for n, keep in enumerate([data.labels != 6, data.labels != 0]):  # one without neutral, one without angry
        cnn = CNNClassifier(epochs=1, batch_size=16, n_jobs=1, verbose=0, tta="none", seed=n)
        paths.append(cnn.fit(data.images[keep], data.labels[keep]).save(tmp_path / f"{n}.pt"))
    model = load_model(paths)
    assert model.classes == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    proba = model.predict_proba(data.images[:5])
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    single = [load_model(p).predict_proba(data.images[:5]) for p in paths]
    np.testing.assert_allclose(proba[:, 0], single[0][:, 0] / 2, atol=1e-6)  # angry: known to the first only
    np.testing.assert_allclose(proba[:, 3], (single[0][:, 3] + single[1][:, 2]) / 2, atol=1e-6)  # happy: both
    # the same average from the command line's config (a Hydra ListConfig, once a TypeError)
    from benchmark import runner
    from tests.helpers import choices, make_config

    overrides = [
        "dataset.n_subjects=3",
        "dataset.per_class=3",
        "method=pretrained",
        "protocol.k=2",
        f"method.model=[{paths[0]},{paths[1]}]",
        f"results_dir={tmp_path / 'runs'}",
    ]
    record, _, _ = runner.run(make_config(overrides), choices(overrides))
    assert record["config"]["method"]["model"] == [str(p) for p in paths] and record["family"] == "deep"


def test_logit_adjustment_divides_by_the_training_labels_class_frequencies():
    from benchmark.datasets.synthetic import Synthetic
    from benchmark.methods import Pretrained
    from core import validation as check

    images = Synthetic(n_subjects=3, per_class=1).load().images
    model = str(ROOT / "results" / "models" / "fer2013__fernet" / "fit-000" / "model.pt")
    counts = np.array([50, 0, 10, 100, 20, 5, 30])  # a skewed training mix, disgust missing
    y = np.repeat(np.arange(7), counts)
    plain = Pretrained(model, tta="none").fit(images, y).predict_proba(images)
    adjusted = Pretrained(model, tta="none", logit_adjust=1.0).fit(images, y)
    prior = (counts + 1) / (counts + 1).sum()
    np.testing.assert_allclose(adjusted.model_.estimator.class_prior, prior)  # its model, logit-adjusted
    assert (
        adjusted.family == "deep"
        and Pretrained(model).set_params(tta="flip").fit(images, y).model_.estimator.tta_mode == "flip"
    ), "set_params before fit is what fit loads (family read without loading)"
    expected = plain / prior
    np.testing.assert_allclose(adjusted.predict_proba(images), expected / expected.sum(1, keepdims=True), rtol=1e-5)
    assert adjusted.fit_info_["class_prior"]["disgust"] == round(1 / (counts + 1).sum(), 6)
    assert (adjusted.predict(images) == 1).mean() > (plain.argmax(1) == 1).mean()  # the missing class, favoured
    with pytest.raises(ConfigError, match="logit_adjust"):
        Pretrained(model, logit_adjust=-1).fit(images, y)
    with pytest.raises(ConfigError, match="training labels' class frequencies"):
        Pretrained(model, logit_adjust=0.5).fit(images)
    check.check_params(Pretrained(model, logit_adjust=0.5), "method")  # a valid tau passes the early check
