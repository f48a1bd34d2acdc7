"""Optional dependencies (pyproject.toml's extras): a feature whose extra is not installed is a one-line
error that names it, before anything is imported or computed."""

from __future__ import annotations

from importlib.util import find_spec

from core.errors import FerbenchError

#: extra -> the modules it provides (import names)
EXTRAS = {
    "mtcnn": ("mtcnn", "tensorflow"),
    "serve": ("fastapi", "uvicorn", "python_multipart"),
    "explain": ("captum", "lime"),
    "ray": ("ray", "hydra_plugins.hydra_ray_launcher"),
    "timm": ("timm",),
}


class ExtraMissing(FerbenchError):
    """A feature needs an extra that is not installed."""


def missing(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here (empty: the extra is installed)."""
    found = []
    for module in EXTRAS[extra]:
        try:
            found.append(None if find_spec(module) is not None else module)
        except ModuleNotFoundError:  # a parent package of a dotted name is missing
            found.append(module)
    return [m for m in found if m]


def require(extra: str, feature: str) -> None:
    """Raise ExtraMissing, naming `feature` and how to install `extra`, when a module of it is missing."""
    gone = missing(extra)
    if gone:
        raise ExtraMissing(
            f"{feature} needs ferbench's '{extra}' extra ({', '.join(gone)} not installed): "
            f"pip install 'ferbench[{extra}]'"
        )
