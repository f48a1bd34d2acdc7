"""`python -m benchmark [group=choice ...] [key=value ...]`: run one experiment (or a sweep with -m).

An identical run already recorded is found before scikit-learn, torch or the data are touched, so
re-running a finished sweep costs about a second per run.
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from benchmark import config, records  # noqa: F401 - config registers the config resolvers
from benchmark.report.summary import format_run
from core.errors import FerbenchError


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    names = {g: hydra_cfg.runtime.choices.get(g) for g in records.GROUPS}
    existing = records.lookup(cfg)[2]
    if existing is not None:
        print(format_run(records.load(existing)))
        print(f"record: {existing} (an identical run was already recorded; nothing recomputed, redo=true to run again)")
        return

    from benchmark.runner import run

    try:
        record, path, _ = run(cfg, names, overrides=list(hydra_cfg.overrides.task))
    except Exception as exc:  # noqa: BLE001 - only our own errors are turned into a message
        err = user_error(exc)
        if err is None:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(format_run(record))
    print(f"record: {path}")


def user_error(exc: BaseException) -> FerbenchError | None:
    """Our error behind `exc`, also when Hydra's instantiate wrapped it; None for real bugs."""
    while exc is not None:
        if isinstance(exc, FerbenchError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


if __name__ == "__main__":
    main()
