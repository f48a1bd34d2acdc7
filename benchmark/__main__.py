"""`python -m benchmark [group=choice ...] [key=value ...]`: run one experiment (or a sweep with -m)."""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from benchmark.errors import FerbenchError
from benchmark.runner import GROUPS


@hydra.main(version_base=None, config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from benchmark.runner import run
    from benchmark.summary import format_run

    choices = HydraConfig.get().runtime.choices
    names = {g: choices.get(g) for g in GROUPS}
    try:
        record, path, computed = run(cfg, names)
    except Exception as exc:  # noqa: BLE001 - only our own errors are turned into a message
        err = user_error(exc)
        if err is None:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(format_run(record))
    if computed:
        print(f"record: {path}")
    else:
        print(f"record: {path} (an identical run was already recorded; nothing recomputed, redo=true to run again)")


def user_error(exc: BaseException) -> FerbenchError | None:
    """Our error behind `exc`, also when Hydra's instantiate wrapped it; None for real bugs."""
    while exc is not None:
        if isinstance(exc, FerbenchError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


if __name__ == "__main__":
    main()
