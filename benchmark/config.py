"""Composing the Hydra config outside `python -m benchmark` (verify, reports, tests) with the same files."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def compose_config(overrides: list[str] = (), config_name: str = "config") -> DictConfig:
    """The config `python -m benchmark <overrides>` would run (or another top-level config of conf/,
    e.g. "report"), without Hydra's output folders."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose(config_name=config_name, overrides=list(overrides))
