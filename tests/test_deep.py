"""Deep pipeline: model registry, FLOP counter, augmentation, imbalance, CNNClassifier, ONNX, config.

Every fit is 1-2 epochs on a few dozen synthetic 48x48 images with one CPU thread (n_jobs=1: on a
busy machine two OpenMP threads wait for each other and run many times slower).
"""

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.config import compose_config
from benchmark.datasets.synthetic import Synthetic
from benchmark.report.leaderboard import family, history, model_name
from core.errors import ConfigError
from deep import imbalance
from deep.augment import BatchAugment, TestTimeAugment
from deep.ensemble import SeedEnsemble
from deep.estimator import CNNClassifier
from deep.export import OnnxClassifier, export_onnx
from deep.flops import count_parameters, macs_per_image
from deep.models import create_model, list_families, list_models

ROOT = Path(__file__).resolve().parent.parent
OURS = ["fernet", "fernet_deep", "resnet18", "seed_cnn", "vgg"]
FAST = dict(epochs=1, batch_size=16, n_jobs=1, verbose=0)


@pytest.fixture(scope="module")
def data():
    return Synthetic(n_subjects=4, per_class=3).load()  # 84 images of 7 classes, 4 subjects


@pytest.fixture(scope="module")
def fitted(data):
    return CNNClassifier(**FAST, bf16=False).fit(data.images, data.labels, groups=data.subjects)


# ---- models ------------------------------------------------------------------------------------
def test_registry_lists_every_family():
    assert set(list_models()) == set(OURS) and list_families() == ["timm", "torchvision"]
    with pytest.raises(ConfigError, match="unknown model 'nope'.*fernet"):
        create_model("nope", 7)
    with pytest.raises(ConfigError, match="fernet"):
        create_model("fernet", 7, no_such_argument=1)


@pytest.mark.parametrize("name", OURS)
@pytest.mark.parametrize("size", [48, 96])
def test_models_map_grayscale_images_to_logits(name, size):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, size, size))
    assert out.shape == (2, 5) and torch.isfinite(out).all()


def test_fernet_is_cheap_per_image():
    model = create_model("fernet", 7)
    assert 50e6 <= macs_per_image(model, 48) <= 200e6
    assert macs_per_image(model, 48) < macs_per_image(create_model("resnet18", 7), 48) / 5


def test_flop_counter_on_a_known_model():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    assert macs_per_image(model, 8) == 8 * 8 * 4 * 9 + 256 * 3  # conv: pixels x out x in x k^2; linear: in x out
    assert count_parameters(model) == 4 * 9 + 4 + 256 * 3 + 3
    assert model.training  # the count does not leave the model in eval mode


def test_torchvision_backbone_without_torchvision_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision -> ImportError
    with pytest.raises(ConfigError, match="needs the 'torchvision' package, which is not installed"):
        create_model("torchvision/mobilenet_v3_small", 7)


# ---- augmentation and imbalance ----------------------------------------------------------------
def test_augmentation_flip_is_exact_and_seeded():
    x = torch.randn(16, 1, 12, 12)
    out = BatchAugment(flip=True, shift=0, scale=0, rotate=0, erase=0)(x, torch.Generator().manual_seed(0))
    mirrored = [torch.allclose(o, i.flip(2), atol=1e-5) for o, i in zip(out, x)]
    same = [torch.allclose(o, i, atol=1e-5) for o, i in zip(out, x)]
    assert all(m or s for m, s in zip(mirrored, same)) and any(mirrored) and any(same)
    full = BatchAugment(flip=True, shift=0.1, scale=0.1, rotate=10, erase=1.0)
    a, b = (full(x, torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    assert ((a == 0).flatten(1).sum(1) >= 1).all()  # every image has an erased patch


def test_photometric_augmentation_changes_grey_levels_as_documented():
    torch.manual_seed(0)
    x = torch.randn(64, 1, 16, 16)
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    geometric = dict(flip=False, shift=0, scale=0, rotate=0, erase=0)
    assert torch.equal(BatchAugment(**geometric)(x, g()), x)  # every change off: the batch as it was
    mean, spread = x.mean(dim=(1, 2, 3)), x.std(dim=(1, 2, 3))
    c = BatchAugment(**geometric, contrast=0.5)(x, g())  # contrast about each image's own mean
    torch.testing.assert_close(c.mean(dim=(1, 2, 3)), mean)
    factor = c.std(dim=(1, 2, 3)) / spread
    assert ((factor >= 0.5 - 1e-5) & (factor <= 1.5 + 1e-5)).all() and factor.min() < 0.8 and factor.max() > 1.2
    b = BatchAugment(**geometric, brightness=2.0)(x, g())  # one shift per image, within +-2
    shift = (b - x).flatten(1)
    torch.testing.assert_close(shift, shift[:, :1].expand_as(shift))
    assert shift.abs().max() <= 2 and shift[:, 0].min() < -1 and shift[:, 0].max() > 1  # both ways
    blurred = BatchAugment(**geometric, blur=1.0)(x, g())  # every image blurred: less spread, same mean
    ratio = blurred.std(dim=(1, 2, 3)) / spread  # white noise: sigma 0.3 px hardly changes it, 1.5 px a lot
    assert (ratio < 1).all() and ratio.min() < 0.3 and ratio.max() > 0.8
    torch.testing.assert_close(blurred.mean(dim=(1, 2, 3)), mean, atol=0.05, rtol=0)
    half = BatchAugment(**geometric, blur=0.5)(x, g())
    kept = torch.tensor([torch.equal(h, i) for h, i in zip(half, x)])
    assert 10 < kept.sum() < 54  # the others pass through exactly (a one-tap kernel)
    flat = torch.zeros(8, 1, 9, 9)
    flat[:, :, 4, 4] = 1.0  # a point: its blur is a normalised Gaussian
    spot = BatchAugment(**geometric, blur=1.0)(flat, g())
    torch.testing.assert_close(spot.sum(dim=(1, 2, 3)), torch.ones(8))
    assert (spot[:, 0, 4, 4] < 1).all() and torch.allclose(spot, spot.flip(2).flip(3), atol=1e-6)
    constant = torch.full((4, 1, 16, 16), 0.7)  # replicate padding: a flat image stays flat to its edges
    torch.testing.assert_close(BatchAugment(**geometric, blur=1.0)(constant, g()), constant)
    rgb = torch.stack([torch.zeros(8, 16, 16), x[:8, 0], torch.ones(8, 16, 16)], 1)  # one kernel per image,
    blurred_rgb = BatchAugment(**geometric, blur=1.0)(rgb, g())  # the same for its channels
    torch.testing.assert_close(blurred_rgb[:, 0], rgb[:, 0])
    torch.testing.assert_close(blurred_rgb[:, 2], rgb[:, 2])
    torch.testing.assert_close(blurred_rgb[:, 1:2], BatchAugment(**geometric, blur=1.0)(x[:8], g()))
    erased = BatchAugment(**{**geometric, "erase": 1.0}, brightness=2.0)(x, g())  # erasing comes after:
    assert ((erased == 0).flatten(1).sum(1) >= 1).all()  # its patches stay mean grey
    noisy = BatchAugment(**geometric, noise=1.0)(x, g())
    added = (noisy - x).std(dim=(1, 2, 3))
    assert (added <= 1.3).all() and added.std() > 0.1
    full = BatchAugment(
        flip=True, shift=0.1, scale=0.1, rotate=10, erase=0.5, contrast=0.3, brightness=0.5, blur=0.5, noise=0.2
    )
    torch.testing.assert_close(full(x, g()), full(x, g()))  # seeded: the same batch twice
    for bad in (dict(contrast=1.0), dict(brightness=-0.1), dict(blur=1.5), dict(noise="0.1")):
        with pytest.raises(ConfigError):
            BatchAugment(**geometric, **bad)


def test_test_time_views_are_the_image_its_mirror_and_exact_warps():
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(48 * 48, 7))
    seen = []

    class Recorder(nn.Module):
        def forward(self, v):
            seen.append(v)
            return linear(v)

    x = torch.randn(3, 1, 48, 48)
    p = lambda v: linear(v).softmax(1)  # noqa: E731
    with torch.no_grad():
        torch.testing.assert_close(TestTimeAugment(linear, "none", (48, 48))(x), p(x))
        torch.testing.assert_close(TestTimeAugment(linear, "flip", (48, 48))(x), (p(x) + p(x.flip(3))) / 2)
        out = TestTimeAugment(Recorder(), "affine", (48, 48))(x)
    assert len(seen) == 18 and torch.equal(seen[0], x) and torch.equal(seen[9], x.flip(3))
    shifted = torch.zeros_like(x)
    shifted[..., :-2] = x[..., 2:]  # the first warp samples 2 px (1/24 of 48) to the right: the face moves left
    torch.testing.assert_close(seen[1], shifted, atol=1e-4, rtol=0)
    torch.testing.assert_close(seen[10], seen[1].flip(3))
    torch.testing.assert_close(out, torch.stack([p(v) for v in seen]).mean(0))
    with pytest.raises(ConfigError, match=r"tta must be one of none \| flip \| affine"):
        TestTimeAugment(linear, "ten_crop", (48, 48))
    assert CNNClassifier(tta=True).tta_mode == "flip" and CNNClassifier(tta=False).tta_mode == "none"


def test_resampling_modes_give_the_class_counts_they_promise():
    y = np.repeat([0, 1, 2], [10, 4, 2])
    rng = np.random.default_rng(0)
    count = lambda mode, **kw: np.bincount(y[imbalance.epoch_indices(y, mode, rng, **kw)], minlength=3)  # noqa: E731
    assert count("none").tolist() == [10, 4, 2]
    assert count("oversample").tolist() == [10, 10, 10]
    assert count("undersample").tolist() == [2, 2, 2]
    assert count("hybrid").tolist() == [4, 4, 4]  # the median class size
    assert count("hybrid", target=6).tolist() == [6, 6, 6]
    assert count("sampler").sum() == len(y)
    # redrawn every epoch: undersampling does not keep discarding the same images
    assert set(imbalance.epoch_indices(y, "undersample", rng)) != set(imbalance.epoch_indices(y, "undersample", rng))
    np.testing.assert_allclose(imbalance.class_weights(y, 4), [16 / 30, 16 / 12, 16 / 6, 0])


def test_focal_loss_with_gamma_zero_is_cross_entropy():
    logits, target = torch.randn(8, 5), torch.randint(0, 5, (8,))
    w = torch.rand(5)
    torch.testing.assert_close(
        imbalance.FocalLoss(0.0, w, 0.1)(logits, target),
        nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)(logits, target),
    )
    assert imbalance.FocalLoss(2.0)(logits, target) < nn.CrossEntropyLoss()(logits, target)


# ---- the estimator -----------------------------------------------------------------------------
def test_fit_predicts_known_labels_and_reports(fitted, data):
    pred = fitted.predict(data.images)
    assert pred.shape == (len(data.images),) and set(pred) <= set(data.labels)
    proba = fitted.predict_proba(data.images)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-5)
    info = fitted.fit_info_
    assert info["epochs_run"] == 1 and info["best_epoch"] == 1 and 0 <= info["best_val_acc"] <= 1
    assert info["parameters"] == count_parameters(fitted.model_) and info["macs_per_image"] > 0
    assert info["images_per_s"] > 0 and info["train_seconds"] > 0 and info["run_dir"] is None
    assert [row["epoch"] for row in info["history"]] == list(range(1, info["epochs_run"] + 1))
    assert info["n_train"] + info["n_val"] == len(data.images)


def test_arbitrary_label_codes_are_mapped_and_restored(data):
    y = data.labels * 3 + 10
    est = CNNClassifier(**FAST, val_fraction=0).fit(data.images, y)
    assert est.classes_.tolist() == sorted(set(y))
    assert set(est.predict(data.images)) <= set(y)
    assert est.predict_proba(data.images).shape == (len(y), 7)


def test_same_seed_same_weights_and_predictions(data):
    a, b, c = (CNNClassifier(**FAST, seed=s).fit(data.images, data.labels) for s in (1, 1, 2))
    for (k, va), vb in zip(a.model_.state_dict().items(), b.model_.state_dict().values()):
        assert torch.equal(va, vb), k
    np.testing.assert_array_equal(a.predict_proba(data.images), b.predict_proba(data.images))
    assert not np.array_equal(a.predict_proba(data.images), c.predict_proba(data.images))


def test_inner_split_keeps_each_subject_on_one_side(data):
    est = CNNClassifier(**FAST, val_fraction=0.25)
    y = np.unique(data.labels, return_inverse=True)[1]
    train_idx, val_idx, how = est._inner_split(y, data.subjects)
    assert len(val_idx) and not set(data.subjects[train_idx]) & set(data.subjects[val_idx])
    assert "by subject" in how
    est.fit(data.images, data.labels, groups=data.subjects)
    assert est.fit_info_["selection"].startswith("inner split by subject (1 of 4 subjects)")


def test_given_validation_set_selects_the_epoch(data):
    val = Synthetic(n_subjects=2, per_class=2, seed=5).load()
    est = CNNClassifier(**{**FAST, "epochs": 2}, tta=False).fit(
        data.images, data.labels, groups=data.subjects, X_val=val.images, y_val=val.labels
    )
    info = est.fit_info_
    assert info["selection"] == f"validation set ({len(val.images)} images)"
    assert info["n_train"] == len(data.images) and info["n_val"] == len(val.images)
    # the restored weights are the best epoch's: their validation accuracy is the one recorded
    assert np.mean(est.predict(val.images) == val.labels) == pytest.approx(info["best_val_acc"])
    assert est.history_[info["best_epoch"] - 1]["val_acc"] == info["best_val_acc"]


def test_early_stopping_counts_epochs_from_the_best(data):
    est = CNNClassifier(**{**FAST, "epochs": 5}, patience=1).fit(data.images, data.labels, groups=data.subjects)
    assert est.fit_info_["epochs_run"] == min(5, est.fit_info_["best_epoch"] + 1) == len(est.history_)


@pytest.mark.parametrize(
    "options",
    [
        dict(optimizer="adamw", lr=1e-3, schedule="onecycle", imbalance="oversample"),
        dict(optimizer="adam", lr=1e-3, schedule="plateau", loss="focal", imbalance="class_weight"),
        dict(schedule="none", imbalance="sampler", model="seed_cnn"),
    ],
)
def test_optimizers_schedules_and_imbalance_options_train(data, options):
    est = CNNClassifier(**{**FAST, "epochs": 2}, **options).fit(data.images, data.labels)
    assert all(np.isfinite(r["loss"]) for r in est.history_)


def test_weight_averaging_holds_swa_lr_and_keeps_the_mean_of_the_last_epochs(data, monkeypatch):
    snapshots = []
    update = torch.optim.swa_utils.AveragedModel.update_parameters

    def spy(self, model):
        snapshots.append({k: v.detach().clone() for k, v in model.named_parameters()})
        update(self, model)

    monkeypatch.setattr("deep.train.AveragedModel.update_parameters", spy)
    est = CNNClassifier(**{**FAST, "epochs": 5}, swa_fraction=0.5, swa_lr=0.02, val_fraction=0).fit(
        data.images, data.labels
    )
    lrs = [row["lr"] for row in est.history_]
    assert lrs[0] < lrs[1] and lrs[2] > 0.02 and lrs[3:] == pytest.approx([0.02, 0.02])  # half of 5, rounded down
    assert len(snapshots) == 2 and est.fit_info_["swa"] == {
        "epochs_averaged": 2,
        "val_loss": None,
        "val_acc": None,
        "selected": True,
    }
    for name, value in est.model_.named_parameters():  # without validation data the average is kept
        torch.testing.assert_close(value, (snapshots[0][name] + snapshots[1][name]) / 2)


def test_weight_average_competes_with_the_best_epoch_on_validation_data(data):
    val = Synthetic(n_subjects=2, per_class=2, seed=5).load()
    est = CNNClassifier(**{**FAST, "epochs": 3}, swa_fraction=0.67, tta="none").fit(
        data.images, data.labels, X_val=val.images, y_val=val.labels
    )
    info, swa = est.fit_info_, est.fit_info_["swa"]
    best = (info["best_val_acc"], -est.history_[info["best_epoch"] - 1]["val_loss"])  # ties go to the lower loss
    assert swa["epochs_averaged"] == 2 and swa["selected"] == ((swa["val_acc"], -swa["val_loss"]) >= best)
    kept = swa["val_acc"] if swa["selected"] else info["best_val_acc"]
    assert np.mean(est.predict(val.images) == val.labels) == pytest.approx(kept)


def test_bad_options_are_config_errors(data):
    for bad in (
        dict(optimizer="rmsprop"),
        dict(schedule="step"),
        dict(imbalance="smote"),
        dict(val_fraction=1.0),
        dict(tta="ten_crop"),
        dict(swa_fraction=1),
        dict(swa_fraction=-0.1),
        dict(epochs=4, swa_lr=0),
        dict(epochs=4, schedule="onecycle"),
    ):
        with pytest.raises(ConfigError):
            CNNClassifier(**{**FAST, **bad}).fit(data.images, data.labels)


def test_history_and_checkpoint_are_written_to_run_dir(data, tmp_path):
    est = CNNClassifier(**{**FAST, "epochs": 2}, run_dir=str(tmp_path)).fit(data.images, data.labels)
    run = tmp_path / "fit-000"
    assert est.fit_info_["run_dir"] == str(run)
    assert est.fit_info_["model_sha256"] == hashlib.sha256((run / "model.pt").read_bytes()).hexdigest()
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"loss", "acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"} <= set(rows[0])
    assert len(json.loads((run / "history.json").read_text())) == 2
    assert (run / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    loaded = CNNClassifier.load(run / "model.pt")
    np.testing.assert_array_equal(loaded.predict_proba(data.images), est.predict_proba(data.images))
    CNNClassifier(**FAST, run_dir=str(tmp_path)).fit(data.images, data.labels)
    assert (tmp_path / "fit-001" / "model.pt").exists()  # each fit (fold) gets its own folder


def test_fine_tuning_loads_the_backbone_and_matches_head_rows_by_class(fitted, data, tmp_path):
    path = fitted.save(tmp_path / "fer.pt")
    source = fitted.classes_.tolist()
    assert {3, 5} <= set(source) and 7 not in source
    tuned = CNNClassifier(**FAST, init_checkpoint=str(path))
    model, transfer = tuned._build_model(np.array([3, 5, 7]))  # contempt (7) is new to the checkpoint
    assert transfer["new_classes"] == [7]
    torch.testing.assert_close(model.stem[0].weight, fitted.model_.stem[0].weight.cpu())
    head = fitted.model_.head.weight.detach().cpu()
    for row, code in enumerate([3, 5]):  # carried over by label, not by position
        torch.testing.assert_close(model.head.weight[row], head[source.index(code)])
    assert not any(torch.equal(model.head.weight[2], r) for r in head)  # a fresh row for the new class
    keep = np.isin(data.labels, [3, 5, 6])
    labels = np.where(data.labels == 6, 7, data.labels)
    tuned.fit(data.images[keep], labels[keep])
    assert tuned.fit_info_["init_checkpoint"] == str(path) and tuned.fit_info_["new_classes"] == [7]
    assert tuned.fit_info_["init_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ConfigError, match="holds a 'fernet' model, not 'vgg'"):
        CNNClassifier(**FAST, model="vgg", init_checkpoint=str(path)).fit(data.images, data.labels)


@pytest.mark.parametrize("tta", ["flip", "affine"])
def test_onnx_export_matches_pytorch(fitted, data, tmp_path, monkeypatch, tta):
    monkeypatch.setattr(fitted, "tta", tta)
    onnx_model = OnnxClassifier(export_onnx(fitted, tmp_path / "model.onnx"), threads=1)
    images = data.images[:5]  # another batch size than the export's example
    np.testing.assert_allclose(onnx_model.predict_proba(images), fitted.predict_proba(images), atol=1e-5)
    np.testing.assert_array_equal(onnx_model.predict(data.images), fitted.predict(data.images))
    assert onnx_model.classes_.tolist() == fitted.classes_.tolist()


# ---- configuration and the command line --------------------------------------------------------
def test_model_group_is_selected_from_the_top_level():
    cfg = compose_config(["method=cnn", "model=vgg", "model.hidden=256"])
    assert cfg.method.model.name == "vgg" and cfg.method.model.hidden == 256
    assert compose_config(["method=cnn"]).method.model.name == "fernet"


def test_cnn_method_runs_from_the_command_line(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmark",
            "method=cnn",
            "model=seed_cnn",
            "method.epochs=1",
            "method.n_jobs=1",
            "method.verbose=0",
            "dataset.n_subjects=3",
            "dataset.per_class=2",
            "protocol.k=2",
            f"results_dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (path,) = tmp_path.glob("*.json")
    record = json.loads(path.read_text())
    assert record["method"] == "cnn" and record["config"]["method"]["model"]["name"] == "seed_cnn"
    assert record["folds"][0]["fit_details"]["selection"].startswith("inner split by subject")


def test_image_size_resizes_for_fit_predict_and_onnx(data, tmp_path):
    est = CNNClassifier(**FAST, image_size=24, tta="flip", bf16=False).fit(data.images, data.labels)
    assert est.image_shape_ == (24, 24) and data.images.shape[1:] != (24, 24)
    assert est.predict(data.images).shape == (len(data.images),)
    onnx_model = OnnxClassifier(export_onnx(est, tmp_path / "model.onnx"), threads=1)
    assert onnx_model.image_size == 24
    np.testing.assert_allclose(onnx_model.predict_proba(data.images), est.predict_proba(data.images), atol=1e-5)


# ---- seed ensembles ----------------------------------------------------------------------------
def test_seed_ensemble_averages_members_from_successive_seeds(data):
    val = Synthetic(n_subjects=2, per_class=2, seed=5).load()
    template = CNNClassifier(**FAST, seed=3)
    ens = SeedEnsemble(template, n_members=2).fit(
        data.images, data.labels, groups=data.subjects, X_val=val.images, y_val=val.labels
    )
    alone = [
        CNNClassifier(**FAST, seed=s).fit(data.images, data.labels, X_val=val.images, y_val=val.labels) for s in (3, 4)
    ]
    np.testing.assert_allclose(
        ens.predict_proba(data.images), np.mean([m.predict_proba(data.images) for m in alone], axis=0), atol=1e-6
    )
    info = ens.fit_info_
    assert info["seeds"] == [3, 4] and template.seed == 3  # the template is not fitted or changed
    assert [m["selection"] for m in info["members"]] == [f"validation set ({len(val.images)} images)"] * 2
    assert info["parameters"] == 2 * count_parameters(alone[0].model_) and info["epochs_run"] == 2
    assert set(ens.predict(data.images)) <= set(data.labels)


def test_one_member_ensemble_is_the_estimator(data):
    ens = SeedEnsemble(CNNClassifier(**FAST), n_members=1).fit(data.images, data.labels)
    alone = CNNClassifier(**FAST).fit(data.images, data.labels)
    np.testing.assert_array_equal(ens.predict_proba(data.images), alone.predict_proba(data.images))


def test_bad_ensemble_sizes_are_config_errors(data):
    for bad in (0, 1.5):
        with pytest.raises(ConfigError):
            SeedEnsemble(CNNClassifier(**FAST), n_members=bad).fit(data.images, data.labels)


def test_ensemble_method_runs_from_the_command_line_and_plots_every_member(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmark",
            "method=cnn_ensemble",
            "model=seed_cnn",
            "method.estimator.epochs=1",
            "method.estimator.n_jobs=1",
            "method.estimator.verbose=0",
            "dataset.n_subjects=3",
            "dataset.per_class=2",
            "protocol.k=2",
            f"results_dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (path,) = tmp_path.glob("*.json")
    record = json.loads(path.read_text())
    assert record["method"] == "cnn_ensemble" and model_name(record) == "seed_cnn"
    assert record["family"] == "deep" and family(record) == "deep"
    assert [f["fit_details"]["n_members"] for f in record["folds"]] == [2, 2]
    assert len(history(record, path)) == 4  # 2 folds x 2 members


# ---- class distributions (FER+ votes) --------------------------------------------------------------
def test_soft_targets_train_on_the_distribution_or_labels_drawn_from_it(data):
    one_hot = np.eye(8, dtype=np.float32)[data.labels]
    base = dict(**{**FAST, "epochs": 2}, bf16=False, tta="none", val_fraction=0)
    hard = CNNClassifier(**base).fit(data.images, data.labels).predict_proba(data.images)
    drawn = CNNClassifier(**base, soft_targets="draw").fit(data.images, data.labels, y_soft=one_hot)
    np.testing.assert_array_equal(drawn.predict_proba(data.images), hard)  # one-hot: every draw is the label
    mixed = one_hot * 0.6 + np.roll(one_hot, 1, axis=1) * 0.4  # 40 % of each image's votes for another class
    soft = CNNClassifier(**base).fit(data.images, data.labels, y_soft=mixed).predict_proba(data.images)
    assert np.abs(soft - hard).max() > 1e-3
    with pytest.raises(ConfigError, match="loss is focal"):
        CNNClassifier(**base, loss="focal").fit(data.images, data.labels, y_soft=mixed)
    with pytest.raises(ConfigError, match="soft_targets must be one of crossentropy | draw".replace("|", r"\|")):
        CNNClassifier(**base, soft_targets="mean").fit(data.images, data.labels)


def test_a_shipped_checkpoint_is_found_from_any_working_folder(tmp_path, monkeypatch):
    """cnn_transfer names results/models/... relative to the repository; run from elsewhere it must still be
    found, and a missing one must fail before any data is read (check_params)."""
    monkeypatch.chdir(tmp_path)
    CNNClassifier(init_checkpoint="results/models/fer2013__fernet/fit-000/model.pt").check_params()
    with pytest.raises(ConfigError, match="init_checkpoint is results/models/nope.pt, which is not a file"):
        CNNClassifier(init_checkpoint="results/models/nope.pt").check_params()


def test_an_interrupted_fit_resumes_to_the_same_weights(data, tmp_path, monkeypatch):
    """Killed after epoch 2 of 4 (weight averaging and a validation split on), then fitted again with
    resume=true: the same final weights, bit for bit, as a fit never interrupted."""
    import deep.train

    params = dict(**{**FAST, "epochs": 4}, swa_fraction=0.5, tta="none", bf16=False)
    whole = CNNClassifier(**params).fit(data.images, data.labels)
    report = deep.train._report

    def crash_after_epoch_2(row, *args):
        report(row, *args)
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(deep.train, "_report", crash_after_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        CNNClassifier(**params, run_dir=str(tmp_path)).fit(data.images, data.labels)
    assert len(list((tmp_path / "resume").glob("*.pt"))) == 1
    monkeypatch.setattr(deep.train, "_report", report)
    resumed = CNNClassifier(**params, run_dir=str(tmp_path), resume=True).fit(data.images, data.labels)
    assert [r["epoch"] for r in resumed.history_] == [1, 2, 3, 4]
    for key, value in whole.model_.state_dict().items():
        assert torch.equal(value, resumed.model_.state_dict()[key]), key
    assert list((tmp_path / "resume").glob("*.pt")) == []  # removed once the fit ended
    # it finished in the folder the interrupted fit began (no half-written folder left beside it), and it
    # states what the interrupted run had trained, which the run record's fit time counts
    assert sorted(p.name for p in tmp_path.glob("fit-*")) == ["fit-000"]
    assert resumed.fit_info_["run_dir"] == str(tmp_path / "fit-000")
    assert (tmp_path / "fit-000" / "model.pt").is_file()
    assert resumed.fit_info_["resumed"]["after_epoch"] == 1  # the crash came before epoch 2's state was saved
    assert resumed.fit_info_["resumed"]["earlier_s"] > 0
    assert "resumed" not in whole.fit_info_


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b'{"dataset": "ckplus"}', b""])
def test_a_file_that_is_no_checkpoint_is_a_clear_error(tmp_path, content):
    from core.errors import ConfigError
    from deep.estimator import _read_checkpoint

    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="model.pt is not a ferbench CNNClassifier checkpoint"):
        _read_checkpoint(path)
