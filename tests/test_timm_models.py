"""timm models as ferbench models (deep/models/timm_backbones.py): each family named in conf/model/timm/ builds,
keeps the registry's contract, trains a step, exports to ONNX and is explained by Grad-CAM; pretrained weights
load from a file; the fine-tuning options (backbone_lr, freeze_epochs) do what they say."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.config import compose_config
from benchmark.datasets.synthetic import Synthetic
from core.errors import ConfigError

timm = pytest.importorskip("timm", reason="the timm extra is not installed (pip install 'ferbench[timm]')")

from deep.estimator import CNNClassifier  # noqa: E402
from deep.models import create_model, head_prefix  # noqa: E402
from deep.train import TrainConfig, _optimizer  # noqa: E402
from tests.helpers import assert_onnx_and_gradcam, assert_registry_contract  # noqa: E402

#: the presets of conf/model/timm/ (model=timm/<name>)
PRESETS = ["resnet18", "mobilenetv3_small_100", "efficientnet_b0", "vit_tiny_patch16_224", "convnext_atto"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    d = Synthetic(n_subjects=2, per_class=2).load()  # 28 faces of 48x48, 7 classes
    return d.images, d.labels


def _spec(preset: str) -> dict:
    """The model config `model=timm/<preset>` composes."""
    cfg = compose_config(["method=cnn", f"model=timm/{preset}"])
    return dict(cfg.model)


@pytest.mark.parametrize("preset", PRESETS)
def test_each_family_trains_a_step_exports_to_onnx_and_has_gradcam(preset, data, tmp_path):
    X, y = data
    spec = _spec(preset)
    assert spec["name"] == f"timm/{preset}" and spec["pretrained"] is False
    name = spec["name"]
    model = create_model(name, 7, **{k: v for k, v in spec.items() if k != "name"}).eval()
    assert_registry_contract(model, name)
    assert head_prefix(name) == "head" and "head.weight" in model.state_dict()

    est = CNNClassifier(
        model=spec, epochs=1, batch_size=14, bf16=False, tta="none", val_fraction=0, swa_fraction=0, verbose=0
    )
    torch.manual_seed(0)
    before = create_model(name, 7, **{k: v for k, v in spec.items() if k != "name"}).state_dict()  # fit's, seed 0
    est.fit(X, y)
    after = est.model_.state_dict()
    assert not torch.equal(after["head.weight"].float(), before["head.weight"]), "a training step changes the head"
    assert (
        sum(not torch.equal(after[k].float(), v) for k, v in before.items() if v.is_floating_point()) > len(before) // 2
    )

    assert_onnx_and_gradcam(est, X, tmp_path)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_pretrained_weights_from_a_file_are_the_ones_loaded(suffix, tmp_path):
    """A timm model saved with perturbed weights, loaded as "pretrained": the backbone holds exactly those
    weights (the RGB stem summed over its channels for a grey input, as timm adapts it), the head is new, and
    the input is normalised as the pretrained config says."""
    source = timm.create_model("resnet18", num_classes=1000)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p))
    state = source.state_dict()
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    model = create_model("timm/resnet18", 7, pretrained=str(path))
    own = model.state_dict()
    torch.testing.assert_close(own["body.layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])
    torch.testing.assert_close(own["body.bn1.running_mean"], state["bn1.running_mean"])
    torch.testing.assert_close(own["body.conv1.weight"], state["conv1.weight"].sum(1, keepdim=True))
    assert own["head.weight"].shape == (7, 512) and not any(k.startswith("body.fc.") for k in own)
    mean, std = model.input_norm
    assert mean == pytest.approx(255 * (0.485 + 0.456 + 0.406) / 3) and std == pytest.approx(
        255 * (0.229 + 0.224 + 0.225) / 3
    )
    assert create_model("timm/resnet18", 7).input_norm is None, "random weights: the training pixels' statistics"


def test_pretrained_errors_name_what_to_give(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"model.pretrained=.*nothing.pt: no such file"):
        create_model("timm/resnet18", 7, pretrained=str(tmp_path / "nothing.pt"))
    other = tmp_path / "other.pth"
    torch.save(timm.create_model("mobilenetv3_small_100").state_dict(), other)
    with pytest.raises(ConfigError, match=r"the weights in .*other.pth do not fit it"):
        create_model("timm/resnet18", 7, pretrained=str(other))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # the hub out of reach, at once
    with pytest.raises(ConfigError, match=r"could not fetch timm's pretrained weights .* model.pretrained=PATH"):
        create_model("timm/resnet18", 7, pretrained=True)
    with pytest.raises(ConfigError, match="timm has no model 'resnet1800'; similar names: .*resnet18"):
        create_model("timm/resnet1800", 7)
    with pytest.raises(ConfigError, match="unknown model 'timmy/resnet18'; registered models: .*timm/<arch>"):
        create_model("timmy/resnet18", 7)


def test_a_saved_pretrained_model_loads_without_its_weights_file(tmp_path, data):
    """The checkpoint holds the weights: loading it neither fetches nor reads `pretrained` again."""
    X, y = data
    weights = tmp_path / "w.pth"
    torch.save(timm.create_model("mobilenetv3_small_100").state_dict(), weights)
    spec = {"name": "timm/mobilenetv3_small_100", "pretrained": str(weights)}
    est = CNNClassifier(
        model=spec, epochs=1, batch_size=14, bf16=False, tta="none", val_fraction=0, swa_fraction=0, verbose=0
    )
    est.fit(X, y)
    assert (est.mean_, est.std_) == est.model_.input_norm
    est.save(tmp_path / "model.pt")
    weights.unlink()
    loaded = CNNClassifier.load(tmp_path / "model.pt")
    np.testing.assert_allclose(loaded.predict_proba(X[:3]), est.predict_proba(X[:3]), atol=1e-5)


def _cfg(**kw) -> TrainConfig:
    base = dict(
        epochs=3,
        batch_size=8,
        lr=0.1,
        optimizer="sgd",
        momentum=0.9,
        weight_decay=5e-4,
        schedule="none",
        warmup_epochs=0,
        label_smoothing=0,
        loss="ce",
        focal_gamma=2,
        imbalance="none",
        resample_target=None,
        patience=None,
        swa_fraction=0,
        swa_lr=0.01,
        soft_targets="crossentropy",
        compile=False,
        seed=0,
        verbose=0,
    )
    return TrainConfig(**{**base, **kw})


def test_backbone_lr_gives_the_backbone_a_fraction_of_the_heads_rate():
    model = create_model("timm/mobilenetv3_small_100", 7)
    same = _optimizer(model, _cfg())
    assert {g["lr"] for g in same.param_groups} == {0.1}
    split = _optimizer(model, _cfg(backbone_lr=0.1))
    by_lr = {}
    for g in split.param_groups:
        by_lr.setdefault(round(g["lr"], 9), set()).update(id(p) for p in g["params"])
    assert by_lr == {0.1: {id(p) for p in model.head.parameters()}, 0.01: {id(p) for p in model.body.parameters()}}
    with pytest.raises(ConfigError, match="backbone_lr"):
        _cfg(backbone_lr=2)
    with pytest.raises(ConfigError, match=r"freeze_epochs must be fewer than method.epochs \(3\).*got 3"):
        _cfg(freeze_epochs=3)
    with pytest.raises(ConfigError, match=r"freeze_epochs must be an integer >= 0, got -1"):
        _cfg(freeze_epochs=-1)


def test_freeze_epochs_hold_the_backbone_and_train_the_head(data, monkeypatch):
    """The weights after each epoch: during the frozen epoch only the head moves (batch-norm statistics
    aside, which are buffers), after it the backbone learns too."""
    from deep import train as train_module

    X, y = data
    after = []
    real = train_module._EpochPass.__call__

    def spy(self, epoch, batches, targets):
        row = real(self, epoch, batches, targets)
        after.append({n: p.detach().clone() for n, p in self.model.named_parameters()})
        return row

    monkeypatch.setattr(train_module._EpochPass, "__call__", spy)
    torch.manual_seed(0)
    spec = {"name": "timm/mobilenetv3_small_100"}
    start = {n: p.detach().clone() for n, p in create_model(spec["name"], 7).named_parameters()}  # fit's, seed 0
    est = CNNClassifier(
        model=spec,
        epochs=2,
        freeze_epochs=1,
        batch_size=14,
        bf16=False,
        channels_last=False,
        tta="none",
        val_fraction=0,
        swa_fraction=0,
        verbose=0,
    )
    est.fit(X, y)
    first, second = after
    backbone = [n for n in start if not n.startswith("head.")]
    assert all(torch.equal(first[n], start[n]) for n in backbone), "the frozen epoch moved the backbone"
    assert not torch.equal(first["head.weight"], start["head.weight"]), "the head learns while the backbone is held"
    assert any(not torch.equal(second[n], first[n]) for n in backbone), "after the frozen epochs the backbone learns"
    assert all(p.requires_grad for p in est.model_.parameters()), "nothing is left frozen after fit"


def test_device_auto_takes_cuda_where_there_is_one(monkeypatch):
    """The device logic, on a machine without a GPU: auto is the CPU here, CUDA where torch sees one; cuda
    asked for without one is a one-line error."""
    from deep.train import Runtime

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Runtime.resolve("auto", bf16=True, channels_last=True).device.type == "cpu"
    with pytest.raises(ConfigError, match="torch sees no CUDA device"):
        Runtime.resolve("cuda", bf16=True, channels_last=True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    gpu = Runtime.resolve("auto", bf16=True, channels_last=True)
    assert gpu.device.type == "cuda" and gpu.bf16, "bf16 autocast (mixed precision) on the GPU too"
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: f"GPU {device}")
    assert gpu.device_name == "GPU cuda", "records name the accelerator"
    assert Runtime.resolve("cpu", bf16=True, channels_last=True).device_name is None


def test_bf16_autocast_only_where_the_device_has_bf16_kernels(monkeypatch):
    """An AVX2-only CPU emulates bf16 several times slower than fp32 (bench/train_speed.py): there the
    recipe's bf16=true trains in fp32, and the fit details say which was in effect."""
    import deep.train
    from deep.train import Runtime

    native = deep.train.bf16_native("cpu")
    assert Runtime.resolve("cpu", bf16=True, channels_last=True).bf16 == native  # this machine, unpatched
    monkeypatch.setattr(deep.train, "bf16_native", lambda device: False)
    assert not Runtime.resolve("cpu", bf16=True, channels_last=True).bf16
    data = Synthetic(n_subjects=2, per_class=2).load()
    est = CNNClassifier(epochs=1, batch_size=8, n_jobs=1, verbose=0, tta="none").fit(data.images, data.labels)
    assert est.fit_info_["bf16"] is False
    monkeypatch.setattr(deep.train, "bf16_native", lambda device: True)
    assert Runtime.resolve("cpu", bf16=True, channels_last=True).bf16
    assert not Runtime.resolve("cpu", bf16=False, channels_last=True).bf16
