"""The experiment path in-process: record schema, skip/redo, reproducibility, config errors."""

import json

import numpy as np
import pytest

from benchmark import runner
from core.errors import ConfigError, DataError
from core.selection import fit_kwargs
from tests.helpers import choices, make_config

FAST = ["dataset.n_subjects=4", "dataset.per_class=4"]


def run(tmp_path, *overrides):
    synthetic = not any(o.startswith("dataset=") for o in overrides)
    overrides = [*(FAST if synthetic else []), f"results_dir={tmp_path}", *overrides]
    return runner.run(make_config(overrides), choices(overrides))


def test_record_schema(tmp_path):
    record, path, computed = run(tmp_path, "protocol=subject_kfold", "protocol.k=4")
    assert computed and path.parent == tmp_path
    assert json.loads(path.read_text()) == record
    for key in (
        "dataset",
        "protocol",
        "method",
        "config",
        "folds",
        "metrics",
        "per_class",
        "confusion_matrix",
        "timings",
        "n_images",
        "skipped",
        "env",
        "run_key",
        "predictions",
    ):
        assert key in record, key
    assert (record["dataset"], record["protocol"], record["method"]) == ("synthetic", "subject_kfold", "pixels_svm")
    assert set(record["metrics"]["accuracy"]) == {"mean", "std"} and set(record["metrics"]["macro_f1"]) == {
        "mean",
        "std",
    }
    assert len(record["folds"]) == 4 and record["n_images"] == 4 * 7 * 4
    accs = [f["test"]["accuracy"] for f in record["folds"]]
    assert record["metrics"]["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    cm = np.array(record["confusion_matrix"]["matrix"])
    assert cm.shape == (7, 7) and cm.sum() == record["n_images"], "summed over folds, every image tested once"
    assert record["confusion_matrix"]["labels"] == record["classes"]
    assert set(record["per_class"]) == set(record["classes"])
    assert {"fit_s", "predict_s", "inference_ms_per_image", "load_s"} <= set(record["timings"])
    assert record["skipped"] == {"count": 0, "by_reason": {}, "items": []}
    assert record["config"]["protocol"]["k"] == 4 and record["env"]["seed"] == 0
    for fold in record["folds"]:  # the record shows that test subjects never trained
        assert fold["test_subjects"]


def test_identical_run_is_skipped_and_redo_recomputes(tmp_path):
    first, path, computed = run(tmp_path)
    assert computed
    again, path2, computed2 = run(tmp_path)
    assert not computed2 and path2 == path and again == first
    redone, path3, computed3 = run(tmp_path, "redo=true")
    assert computed3 and path3 == path
    assert redone["env"]["time"] >= first["env"]["time"]


def test_same_seed_same_numbers_other_seed_other_folds(tmp_path):
    a, _, _ = run(tmp_path / "a")
    b, _, _ = run(tmp_path / "b")
    c, _, _ = run(tmp_path / "c", "seed=1")
    assert a["predictions"] == b["predictions"] and a["metrics"] == b["metrics"]
    assert a["predictions"] != c["predictions"]


def test_validation_data_and_groups_reach_fit_only_when_declared():
    class Declares:
        def fit(self, X, y, groups=None, X_val=None, y_val=None): ...

    class Plain:
        def fit(self, X, y): ...

    available = {"groups": np.arange(3), "X_val": np.zeros(2), "y_val": None}
    assert set(fit_kwargs(Declares(), available)) == {"groups", "X_val"}
    assert fit_kwargs(Plain(), available) == {}


def _unwrap(excinfo):
    from core.errors import user_error

    return user_error(excinfo.value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["dataset=jaffe", "dataset.on_bad_image=ignore"],
            "dataset.on_bad_image must be one of raise | skip, got 'ignore'",
        ),
        (["protocol.k=1"], "protocol.k must be an integer >= 2, got 1"),
        (["protocol.k=2.7"], "protocol.k must be an integer >= 2, got 2.7"),
        (["detector=haar", "detector.margin=-1"], "detector.margin must be a number >= 0, got -1"),
        (["method=lbp_svm", "method.features.grid=[0,6]"], "method.features.grid must be an integer >= 1, got 0"),
        (
            ["method=hog_svm", "method.classifier.estimator.steps.svm.C=-1"],
            "method.classifier.estimator.steps.svm.C must be a number > 0, got -1",
        ),
        (["method=cnn", "method.epochs=0"], "method.epochs must be an integer >= 1, got 0"),
        (["method=cnn", "method.optimizer=lion"], "method.optimizer must be one of sgd | adam | adamw, got 'lion'"),
        (["method=cnn_ensemble", "method.estimator.tta=ten_crop"], "method.estimator.tta must be one of none | flip"),
        (
            ["method=cnn", "method.init_checkpoint=nowhere/model.pt"],
            "method.init_checkpoint is nowhere/model.pt, which is not",
        ),
        (
            ["method=pixels_svm", "method.steps.pca.n_components=-3"],
            "method.steps.pca: The 'n_components' parameter of PCA must be",
        ),
    ],
)
def test_bad_config_values_fail_before_any_work_naming_their_key(tmp_path, monkeypatch, overrides, message):
    """Every bad value is a ConfigError (a ValueError) whose message starts with its config path,
    raised before the data set is read (the loader's load is never called)."""
    from benchmark.datasets.synthetic import Synthetic

    monkeypatch.setattr(Synthetic, "load", lambda self: pytest.fail("data read before the config was checked"))
    with pytest.raises(ConfigError) as e:
        run(tmp_path, *overrides)
    assert str(e.value).startswith(message)


def test_bad_values_fail_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="number of subjects"):
        run(tmp_path, "protocol=subject_kfold", "protocol.k=9")
    # official on JAFFE is refused from the loader's declared abilities, before reading any file
    with pytest.raises(ConfigError, match="official"):
        run(tmp_path, "dataset=jaffe", "protocol=official", f"data_root={tmp_path}/nowhere")
    with pytest.raises(DataError, match="no data set found"):
        run(tmp_path, "dataset=jaffe", f"data_root={tmp_path}/nowhere")
    assert not list(tmp_path.glob("*.json")), "a failed run writes no record"


def test_a_detector_that_drops_every_image_says_so(tmp_path):
    """JAFFE-named files without a face, detector=haar with on_no_face=drop: a clear error, not min() of nothing."""
    from tests.layouts import save

    root = tmp_path / "data" / "jaffe"
    rng = np.random.default_rng(0)
    for s, subject in enumerate(("KA", "KL")):
        for e, expression in enumerate(("AN", "HA")):
            for n in (1, 2, 3):
                save(
                    root / f"{subject}.{expression}{n}.{10 * s + 3 * e + n}.tiff",
                    rng.integers(0, 256, (256, 256), dtype=np.uint8),
                )
    overrides = [
        "dataset=jaffe",
        "detector=haar",
        "detector.on_no_face=drop",
        "protocol.k=2",
        f"data_root={tmp_path / 'data'}",
        f"cache_dir={tmp_path / 'cache'}",
    ]
    with pytest.raises(DataError, match="dropped all 12 images of jaffe: it found no face in any"):
        run(tmp_path, *overrides)
