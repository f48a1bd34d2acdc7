"""Named experiments: conf/experiment/<name>.yaml, one run each (`ferbench run +experiment=<name>`), for every
committed model and for the figures the README cites. An experiment file is a Hydra config of the global
package: it chooses the groups (`override /dataset: fer2013`) and sets keys, and may start from another
experiment (`defaults: - fer2013_fernet`), as lightning-hydra-template's experiments do.

A run made with `+experiment=<name>` names it in its record; `ferbench records` names it in the records
made before the file existed (`tags`: the record whose run key the experiment composes to).
"""

from __future__ import annotations

import functools

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
        return {
            records.run_key(OmegaConf.to_container(compose_config([f"+experiment={name}"]), resolve=True)): name
            for name in names()
        }


@functools.cache
def models() -> dict[str, dict]:
    """{committed model folder name (results/models/<name>/): {"experiment": the one that trains it, "seed": its
    seed, "init": the committed model it was fine-tuned from (its folder's name after the data set), or None,
    "init_folder": that model's whole folder name (<data set>__<name>), or None}},
    from the experiments' `method.run_dir` (an ensemble's `method.estimator.run_dir`)."""
    from hydra import initialize_config_dir

    from benchmark.config import compose_config
    from benchmark.inference.models import model_folder

    found = {}
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        for name in names():
            cfg = compose_config([f"+experiment={name}"])
            method = cfg.method.get("estimator") or cfg.method
            run_dir = method.get("run_dir") if hasattr(method, "get") else None
            if run_dir:
                init = method.get("init_checkpoint") if hasattr(method, "get") else None
                start = model_folder(init) if init else None
                found[str(run_dir).rstrip("/").rsplit("/", 1)[-1]] = {
                    "experiment": name,
                    "seed": int(cfg.seed),
                    "init": start[1] if start else None,
                    "init_folder": "__".join(start) if start else None,
                }
    return found
