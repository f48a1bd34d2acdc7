"""torchvision's classification models as ferbench models (deep/models/tv_backbones.py): each preset of
conf/model/torchvision/ builds, keeps the registry's contract, trains a step, exports to ONNX and is explained by
Grad-CAM; every family `SPLITS` names splits into a (N, C, h, w) map and a head whose composition is torchvision's
own forward; pretrained weights load from a file; what cannot be built says why in one line."""

from __future__ import annotations

import pytest
import torch

from benchmark.config import compose_config
from benchmark.datasets.synthetic import Synthetic
from core.errors import ConfigError
from deep.estimator import CNNClassifier
from deep.models import create_model, head_prefix
from deep.models.tv_backbones import SPLITS
from tests.helpers import assert_onnx_and_gradcam, assert_registry_contract

torchvision = pytest.importorskip("torchvision", reason="torchvision is not installed")

#: the presets of conf/model/torchvision/ (model=torchvision/<name>)
PRESETS = ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", "densenet121"]
#: one small architecture of every family SPLITS names
SMALLEST = {
    "resnet": "resnet18",
    "resnext": "resnext50_32x4d",
    "wide_resnet": "wide_resnet50_2",
    "regnet": "regnet_x_400mf",
    "shufflenet": "shufflenet_v2_x0_5",
    "mnasnet": "mnasnet0_5",
    "mobilenet": "mobilenet_v2",
    "efficientnet": "efficientnet_b0",
    "convnext": "convnext_tiny",
    "densenet": "densenet121",
    "vgg": "vgg11",
    "alexnet": "alexnet",
    "squeezenet": "squeezenet1_1",
}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data():
    d = Synthetic(n_subjects=2, per_class=2).load()  # 28 faces of 48x48, 7 classes
    return d.images, d.labels


def _head(model: torch.nn.Module, name: str) -> dict[str, torch.Tensor]:
    prefix = head_prefix(name) + "."
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(prefix)}


@pytest.mark.parametrize("preset", PRESETS)
def test_each_preset_trains_a_step_exports_to_onnx_and_has_gradcam(preset, data, tmp_path):
    X, y = data
    spec = dict(compose_config(["method=cnn", f"model=torchvision/{preset}"]).model)
    assert spec == {"name": f"torchvision/{preset}", "pretrained": False}
    name = spec["name"]
    model = create_model(name, 7).eval()
    assert_registry_contract(model, name)

    est = CNNClassifier(
        model=spec, epochs=1, batch_size=14, bf16=False, tta="none", val_fraction=0, swa_fraction=0, verbose=0
    )
    torch.manual_seed(0)
    before = create_model(name, 7).state_dict()  # the fit's initial weights (seed 0)
    est.fit(X, y)
    after = est.model_.state_dict()
    head = _head(est.model_, name)
    assert head and any(not torch.equal(v.float(), before[k]) for k, v in head.items() if v.is_floating_point())
    assert (
        sum(not torch.equal(after[k].float(), v) for k, v in before.items() if v.is_floating_point()) > len(before) // 2
    ), "a training step changes most of the weights"
    assert est.fit_info_["macs_per_image"] > 0 and est.fit_info_["parameters"] == sum(
        p.numel() for p in est.model_.parameters()
    )

    assert_onnx_and_gradcam(est, X, tmp_path)


@pytest.mark.parametrize("family", sorted(SPLITS))
def test_every_family_splits_into_a_map_and_torchvisions_own_head(family):
    """forward_head(forward_features(x)) is torchvision's forward of the same weights (the grey stem given the
    same filters as a one-channel copy of torchvision's model), at 96x96 (AlexNet's pooling needs more than 48)."""
    arch = SMALLEST[family]
    assert arch.startswith(family) and next(p for p in SPLITS if arch.startswith(p)) == family
    torch.manual_seed(0)
    model = create_model(f"torchvision/{arch}", 5).eval()
    reference = torchvision.models.get_model(arch, weights=None, num_classes=5).eval()
    stem = next(n for n, m in reference.named_modules() if isinstance(m, torch.nn.Conv2d))
    conv = reference.get_submodule(stem)
    parent, _, attr = stem.rpartition(".")
    grey = torch.nn.Conv2d(
        1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None
    )
    setattr(reference.get_submodule(parent) if parent else reference, attr, grey)
    ours = list(model.features.parameters()) + list(model.tail.parameters())
    assert len(ours) == len(list(reference.parameters()))
    with torch.no_grad():
        for p, q in zip(reference.parameters(), ours):  # forward order: features first, then the tail
            p.copy_(q)
        x = torch.randn(2, 1, 96, 96)
        features = model.forward_features(x)
        assert features.ndim == 4 and features.shape[-1] >= 1
        torch.testing.assert_close(model.forward_head(features), reference(x), rtol=1e-4, atol=1e-4)


def test_pretrained_weights_from_a_file_are_the_ones_loaded(tmp_path):
    """torchvision's ResNet-18 saved with perturbed weights, loaded as "pretrained": the backbone holds exactly
    those weights (the RGB stem summed over its channels for a grey input), the 1000-class layer starts fresh, and
    the input is normalised with ImageNet's statistics."""
    source = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p))
    state = source.state_dict()
    torch.save(state, tmp_path / "resnet18.pth")
    model = create_model("torchvision/resnet18", 7, pretrained=str(tmp_path / "resnet18.pth"))
    own = model.state_dict()
    torch.testing.assert_close(own["features.7.1.conv2.weight"], state["layer4.1.conv2.weight"])
    torch.testing.assert_close(own["features.1.running_mean"], state["bn1.running_mean"])
    torch.testing.assert_close(own["features.0.weight"], state["conv1.weight"].sum(1, keepdim=True))
    assert own["tail.fc.weight"].shape == (7, 512)
    mean, std = model.input_norm
    assert mean == pytest.approx(255 * (0.485 + 0.456 + 0.406) / 3) and std == pytest.approx(
        255 * (0.229 + 0.224 + 0.225) / 3
    )
    assert create_model("torchvision/resnet18", 7).input_norm is None, "random weights: the training pixels' statistics"


def test_what_cannot_be_built_says_why(tmp_path, monkeypatch, data):
    with pytest.raises(ConfigError, match=r"model.pretrained=.*nothing.pt: no such file"):
        create_model("torchvision/resnet18", 7, pretrained=str(tmp_path / "nothing.pt"))
    other = tmp_path / "other.pth"
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), other)
    with pytest.raises(ConfigError, match=r"the weights in .*other.pth do not fit it"):
        create_model("torchvision/resnet18", 7, pretrained=str(other))
    (tmp_path / "cut.pth").write_bytes(other.read_bytes()[:1000])
    with pytest.raises(ConfigError, match=r"cut.pth: not a state dict torch can read"):
        create_model("torchvision/resnet18", 7, pretrained=str(tmp_path / "cut.pth"))

    def offline(*args, **kwargs):
        raise OSError("no network")

    from torchvision.models import _api  # where WeightsEnum.get_state_dict finds its downloader

    monkeypatch.setattr(_api, "load_state_dict_from_url", offline)
    with pytest.raises(ConfigError, match=r"could not fetch torchvision's pretrained weights .* model.pretrained=PATH"):
        create_model("torchvision/resnet18", 7, pretrained=True)
    with pytest.raises(
        ConfigError, match="torchvision has no classification model 'resnet1800'; similar names: .*resnet18"
    ):
        create_model("torchvision/resnet1800", 7)
    with pytest.raises(ConfigError, match="not vit_b_16's .* model=timm/"):
        create_model("torchvision/vit_b_16", 7)
    with pytest.raises(ConfigError, match="unexpected keyword argument 'nope'"):
        create_model("torchvision/resnet18", 7, nope=1)
    X, y = data  # 48x48 crops: AlexNet's pooling needs larger ones, which fit says before training
    est = CNNClassifier(model="torchvision/alexnet", epochs=1, bf16=False, val_fraction=0, verbose=0)
    with pytest.raises(ConfigError, match=r"model torchvision/alexnet cannot take 48x48 crops .*method\.image_size=96"):
        est.fit(X, y)


def test_pretrained_takes_a_path_on_the_command_line(tmp_path):
    """`model.pretrained` is true, false or a file: the command line takes a path for it (its default is false),
    the run trains from that file's weights and its record names the file; a missing file is one line."""
    import json
    import subprocess
    import sys

    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    args = [
        *("run", "method=cnn", "model=torchvision/resnet18", "dataset.n_subjects=2", "dataset.per_class=2"),
        *("protocol.k=2", "method.epochs=1", "method.verbose=0", "method.tta=none", f"results_dir={tmp_path / 'r'}"),
    ]

    def ferbench(*extra):
        command = [sys.executable, "-m", "benchmark.cli", *args, *extra]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    done = ferbench(f"model.pretrained={weights}")
    assert done.returncode == 0, done.stderr
    (record,) = (tmp_path / "r").glob("*.json")
    assert json.loads(record.read_text())["config"]["model"]["pretrained"] == str(weights)
    missing = ferbench(f"model.pretrained={tmp_path / 'none.pt'}")
    assert missing.returncode == 2 and missing.stderr.strip().splitlines()[-1].startswith(
        f"error: model.pretrained={tmp_path / 'none.pt'}: no such file"
    ), missing.stderr
    assert "must be true or false" in ferbench("redo=maybe").stderr  # other booleans stay booleans


def test_an_option_a_model_does_not_take_names_its_options_and_the_families():
    with pytest.raises(ConfigError, match=r"model 'resnet18' has no option 'pretrained' .*torchvision/<arch>"):
        create_model("resnet18", 7, pretrained=False)  # ferbench's own ResNet-18, not torchvision's
