"""Test helpers."""

from benchmark.config import compose_config as make_config  # noqa: F401 - re-exported for tests


def choices(overrides) -> dict:
    """The group choices as the CLI would report them (defaults unless overridden; `+perturb=...` adds one)."""
    names = {"dataset": "synthetic", "protocol": "kfold", "method": "pixels_svm", "detector": "none", "perturb": None}
    for o in overrides:
        key, _, value = o.partition("=")
        if key.lstrip("+") in names:
            names[key.lstrip("+")] = value
    return names


def assert_registry_contract(model, name: str, num_classes: int = 7) -> None:
    """`model` (registry name `name`, in eval mode) keeps the registry's split on a (2, 1, 48, 48) batch:
    forward_features is a (N, C, h, w) map, the registry's feature layer outputs it, forward_head of it is forward."""
    import torch

    from deep.models import feature_layer

    x = torch.randn(2, 1, 48, 48)
    seen = []
    model.get_submodule(feature_layer(name)).register_forward_hook(lambda m, i, out: seen.append(out))
    with torch.no_grad():
        features, logits = model.forward_features(x), model(x)
        assert features.ndim == 4 and logits.shape == (2, num_classes)
        torch.testing.assert_close(model.forward_head(features), logits)
    torch.testing.assert_close(seen[0], features)


def assert_onnx_and_gradcam(estimator, X, tmp_path) -> None:
    """A fitted CNNClassifier exports to ONNX (onnxruntime within 2e-4 of it on X[:4]) and Grad-CAM explains
    X[:2] with maps of their shape in [0, 1]."""
    import numpy as np
    import onnxruntime as ort

    from benchmark.inference.explain import gradcam
    from deep.export import export_onnx

    path = export_onnx(estimator, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probabilities = session.run(None, {session.get_inputs()[0].name: X[:4]})[0]
    np.testing.assert_allclose(probabilities, estimator.predict_proba(X[:4]), atol=2e-4)
    maps = gradcam(estimator, X[:2], [0, 1])
    assert maps.shape == X[:2].shape and maps.dtype == np.float32 and 0 <= maps.min() and maps.max() <= 1
