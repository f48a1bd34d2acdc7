"""`python -m benchmark [group=choice ...] [key=value ...]`: run one experiment (or a sweep with -m).

An identical run already recorded is found before scikit-learn, torch or the data are touched, so
re-running a finished sweep costs about a second per run.
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from benchmark import config, records  # noqa: F401 - config registers the config resolvers
from benchmark.report.summary import format_run
from benchmark.sweep import run_job
from core.errors import user_error


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode == RunMode.MULTIRUN:  # every job runs; failures are listed at the end (benchmark.sweep)
        run_job(lambda: experiment(cfg, hydra_cfg), hydra_cfg)
        return
    try:
        experiment(cfg, hydra_cfg)
    except Exception as exc:  # noqa: BLE001 - only our own errors are turned into a message
        err = user_error(exc)
        if err is None:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def experiment(cfg: DictConfig, hydra_cfg) -> None:
    """One run: print the recorded result of an identical run, or run it and print the new one."""
    names = {g: hydra_cfg.runtime.choices.get(g) for g in records.GROUPS}
    existing = records.recorded(cfg)
    if existing is not None:
        print(format_run(records.load(existing)))
        print(f"record: {existing} (an identical run was already recorded; nothing recomputed, redo=true to run again)")
        return

    from benchmark.runner import run

    record, path, _ = run(cfg, names, overrides=list(hydra_cfg.overrides.task))
    print(format_run(record))
    print(f"record: {path}")


if __name__ == "__main__":
    main()
