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
