"""Named experiments: conf/experiment/<name>.yaml, one run each (`ferbench run +experiment=<name>`), for every
committed model and for the figures the README cites. An experiment file is a Hydra config of the global
package: it chooses the groups (`override /dataset: fer2013`) and sets keys, and may start from another
experiment (`defaults: - fer2013_fernet`), as lightning-hydra-template's experiments do.

A run made with `+experiment=<name>` names it in its record; `ferbench records` names it in the records
made before the file existed (`tags`: the record whose run key the experiment composes to).
"""

from __future__ import annotations

from core.io import CONF_DIR


def names() -> list[str]:
    """The experiments conf/experiment/ holds, sorted."""
    return sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def tags() -> dict[str, str]:
    """{run key: experiment name} of every experiment, composed as `ferbench run +experiment=<name>` runs it."""
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from benchmark import records
    from benchmark.config import compose_config

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):  # one Hydra for all of them
        return {records.run_key(OmegaConf.to_container(compose_config([f"+experiment={name}"]), resolve=True)): name
                for name in names()}
