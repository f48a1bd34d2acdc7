"""Test-time perturbations: the operations, the runner's guarantee that only test images are perturbed,
the record, and the robustness boards."""

import json

import cv2
import numpy as np
import pytest
import skimage.data
from sklearn.base import BaseEstimator, ClassifierMixin

from benchmark import perturbations as P
from benchmark import runner
from core.errors import ConfigError
from tests.helpers import choices, make_config

FACE = cv2.resize(
    cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)[40:200, 150:310], (48, 48), interpolation=cv2.INTER_AREA
)  # a real (public-domain) face: blurs have something to blur


@pytest.mark.parametrize("name", P.NAMES)
def test_every_perturbation_keeps_shape_and_dtype_and_grows_with_severity(name):
    changes = []
    for severity in range(1, P.N_SEVERITIES + 1):
        out = P.apply(name, severity, FACE, P.rng_for(0, name, severity, "x"))
        assert out.shape == FACE.shape and out.dtype == np.uint8
        changes.append(np.abs(out.astype(int) - FACE).mean())
    assert changes[0] > 0 and changes[-1] > changes[0]  # each severity changes the image, the worst the most


def test_perturbations_are_seeded_per_image_and_the_same_for_every_caller():
    a = P.apply("gaussian_noise", 2, FACE, P.rng_for(0, "gaussian_noise", 2, "img1"))
    b = P.apply("gaussian_noise", 2, FACE, P.rng_for(0, "gaussian_noise", 2, "img1"))
    c = P.apply("gaussian_noise", 2, FACE, P.rng_for(0, "gaussian_noise", 2, "img2"))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_occluders_cover_the_eyes_and_the_mouth_of_an_aligned_crop():
    layout = P.FaceLayout.of_margin(0.15)
    blank = np.full((96, 96), 128, np.uint8)
    eyes = P.apply("occlusion_eyes", 2, blank, P.rng_for(0, "e", 2, "x"), layout=layout) != 128
    mouth = P.apply("occlusion_mouth", 2, blank, P.rng_for(0, "m", 2, "x"), layout=layout) != 128
    rows = lambda mask: np.flatnonzero(mask.any(axis=1))  # noqa: E731
    assert rows(eyes).min() <= layout.eyes_y * 96 <= rows(eyes).max()
    assert rows(mouth).min() <= layout.mouth_y * 96 <= rows(mouth).max() and rows(mouth).min() > rows(eyes).max()


def test_unknown_perturbations_and_severities_are_refused():
    with pytest.raises(ConfigError, match="perturbation is 'fog'"):
        P.apply("fog", 1, FACE, P.rng_for(0, "fog", 1, "x"))
    with pytest.raises(ConfigError, match="severity must be 1 to 4"):
        P.apply("jpeg", 5, FACE, P.rng_for(0, "jpeg", 5, "x"))


class Spy(ClassifierMixin, BaseEstimator):
    """Remembers every image it is fitted on and every image it predicts."""

    fitted: list = []
    predicted: list = []

    def fit(self, X, y):
        Spy.fitted.append(np.array(X))
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        Spy.predicted.append(np.array(X))
        return np.full(len(X), self.classes_[0])


SMALL = ["dataset.n_subjects=3", "dataset.per_class=2", "protocol.k=2"]


def test_no_perturbation_reaches_a_training_image(tmp_path):
    from benchmark.datasets.synthetic import Synthetic

    Spy.fitted, Spy.predicted = [], []
    overrides = [*SMALL, "method._target_=tests.test_robustness.Spy", "+perturb=standard", f"results_dir={tmp_path}"]
    cfg = make_config(overrides)
    cfg.method = {"_target_": "tests.test_robustness.Spy"}
    record, _, _ = runner.run(cfg, choices(overrides))
    clean = Synthetic(n_subjects=3, per_class=2).load()
    training = {image.tobytes() for image in clean.images}
    assert len(Spy.fitted) == 2  # one fit a fold
    for X in Spy.fitted:  # every image a fit saw is a clean image of the data set
        assert all(image.tobytes() in training for image in X)
    n_conditions = len(P.NAMES) * P.N_SEVERITIES
    assert len(Spy.predicted) == 2 * (1 + n_conditions)  # clean, then every perturbation, per fold
    perturbed = [X for i, X in enumerate(Spy.predicted) if i % (1 + n_conditions)]
    assert all(not any(image.tobytes() in training for image in X) for X in perturbed)
    assert set(record["perturbations"]["results"]) == set(P.NAMES)
    assert record["perturb"] == "standard" and record["perturbations"]["mode"] == "crop"


def test_a_perturbed_run_and_its_board(tmp_path):
    from benchmark.report.pages import write_report

    for method in ("pixels_svm", "cnn"):
        overrides = [
            *SMALL,
            f"method={method}",
            "+perturb=standard",
            f"results_dir={tmp_path / 'runs'}",
            "perturb.names=[gaussian_blur,occlusion_eyes]",
        ]
        if method == "cnn":
            overrides += [
                "method.epochs=1",
                "method.batch_size=16",
                "method.n_jobs=1",
                "method.verbose=0",
                "method.tta=none",
            ]
        runner.run(make_config(overrides), choices(overrides))
    plain = [*SMALL, f"results_dir={tmp_path / 'runs'}"]
    runner.run(make_config(plain), choices(plain))
    write_report(tmp_path / "runs", tmp_path / "report")
    page = (tmp_path / "report" / "leaderboards" / "robustness__synthetic__kfold__crop.md").read_text()
    assert "## gaussian_blur" in page and "## occlusion_eyes" in page and "Best classical (pixels_svm)" in page
    assert "exact McNemar" in page
    assert (tmp_path / "report" / "plots" / "robustness" / "synthetic__kfold__crop.png").stat().st_size > 10_000
    board = (tmp_path / "report" / "leaderboards" / "synthetic__kfold.md").read_text()
    assert "| 1   | pixels_svm" in board and "cnn" not in board  # perturbed runs are not on the plain board
    record = json.loads(next((tmp_path / "runs").glob("*__cnn__*standard*.json")).read_text())
    assert record["family"] == "deep" and set(record["perturbed_predictions"]["fold0"]["y_pred"]) == {
        "gaussian_blur",
        "occlusion_eyes",
    }


def test_image_mode_needs_a_detector(tmp_path):
    overrides = [*SMALL, "+perturb=standard", "perturb.mode=image", f"results_dir={tmp_path}"]
    with pytest.raises(ConfigError, match="perturb.mode is image"):
        runner.run(make_config(overrides), choices(overrides))


@pytest.mark.real_data
def test_image_mode_perturbs_the_photos_before_detection(tmp_path):
    from tests.conftest import real_data_dir

    root = real_data_dir("jaffe").parent
    overrides = [
        "dataset=jaffe",
        "detector=haar",
        "protocol=subject_kfold",
        "protocol.k=2",
        f"data_root={root}",
        f"cache_dir={tmp_path / 'cache'}",
        "+perturb=standard",
        "perturb.mode=image",
        "perturb.names=[low_light,occlusion_eyes,crop_shift]",
        "perturb.n_images=50",  # a sample of each fold's test photos: every photo is detected again per severity
        f"results_dir={tmp_path}",
    ]
    record, _, _ = runner.run(make_config(overrides), choices(overrides))
    results = record["perturbations"]["results"]
    assert set(results) == {"low_light", "occlusion_eyes"}  # crop_shift exists only after detection
    rates = [results["low_light"][s]["detection_rate"] for s in "1234"]
    assert rates[0] >= rates[-1] and rates[-1] < 1.0  # the darkest photos lose faces
    assert results["occlusion_eyes"]["4"]["accuracy"]["mean"] < record["metrics"]["accuracy"]["mean"]


def test_a_sample_of_test_images_is_the_same_for_every_method_and_its_clean_scores_are_its_own(tmp_path):
    from benchmark.report.robustness import curve
    from benchmark.report.stats import lead_test_perturbed

    recs = []
    for method in ("pixels_svm", "lbp_svm"):
        overrides = [
            *SMALL,
            f"method={method}",
            "+perturb=standard",
            "perturb.names=[gaussian_noise]",
            "perturb.n_images=14",
            f"results_dir={tmp_path}",
        ]
        recs.append(runner.run(make_config(overrides), choices(overrides))[0])
    a, b = recs
    for fold, clean in a["predictions"].items():
        ids = a["perturbed_predictions"][fold]["ids"]
        assert ids == b["perturbed_predictions"][fold]["ids"] and len(ids) == 14 < len(clean["test"]["ids"])
        truth = dict(zip(clean["test"]["ids"], clean["test"]["y_true"]))
        assert sorted(np.bincount([truth[i] for i in ids])) == [2] * 7  # stratified: 2 of each class's 3
        assert len(a["perturbed_predictions"][fold]["y_pred"]["gaussian_noise"]["4"]) == 14
    sampled = a["perturbations"]["clean"]
    assert sampled["n_images"] == 28 and a["perturbations"]["n_images"] == 14
    assert curve(a, "gaussian_noise")[0] == sampled["accuracy"]["mean"]
    truth = {i: t for f in a["predictions"].values() for i, t in zip(f["test"]["ids"], f["test"]["y_true"])}
    right = [
        {
            i: p == truth[i]
            for f in r["perturbed_predictions"].values()
            for i, p in zip(f["ids"], f["y_pred"]["gaussian_noise"]["4"])
        }
        for r in (a, b)
    ]
    only_a = sum(right[0][i] and not right[1][i] for i in right[0])
    only_b = sum(right[1][i] and not right[0][i] for i in right[0])
    test = lead_test_perturbed(a, b, "gaussian_noise", "4")  # McNemar on the 28 sampled images of both folds
    assert (test.name, test.detail) == ("exact McNemar", f"{only_a} images right only by #1, {only_b} only by #2")
    overrides = [*SMALL, "+perturb=standard", "perturb.n_images=5", f"results_dir={tmp_path}"]
    with pytest.raises(ConfigError, match="perturb.n_images is 5"):  # fewer than the 7 classes
        runner.run(make_config(overrides), choices(overrides))
