"""`ferbench run [group=option ...] [key=value ...]` (or `python -m benchmark ...`): run one experiment (a
sweep with -m).

The words are Hydra's overrides, checked first (`benchmark.config.check_overrides`: a typo is one line
naming the closest valid words). An identical run already recorded is found before scikit-learn,
torch or the data are touched, so re-running a finished sweep costs about a second per run.
"""

from __future__ import annotations

import re
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from benchmark import cli, config, records
from benchmark.methods import with_model_framing
from benchmark.report.summary import format_run
from benchmark.sweep import run_job
from core.errors import FerbenchError, user_error
from core.io import CONF_DIR

EXAMPLES = (
    "ferbench run                                                # the built-in default: a smoke test",
    "ferbench run dataset=jaffe detector=haar method=lbp_svm protocol=subject_kfold",
    "ferbench run dataset=fer2013 protocol=official method=cnn model=vgg method.epochs=30",
    "ferbench run -m dataset=jaffe,ckplus method=lbp_svm,hog_svm    # a sweep: one run per combination",
    "ferbench run method=lbp_svm --cfg job                       # print the composed config, run nothing",
)


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
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
    names = {g: hydra_cfg.runtime.choices.get(g) for g in (*records.GROUPS, "experiment")}
    cfg = with_model_framing(cfg)
    existing = records.recorded(cfg)
    if existing is not None:
        print(format_run(records.load(existing)))
        print(f"record: {existing} (an identical run was already recorded; nothing recomputed, redo=true to run again)")
        return

    from benchmark.runner import run

    record, path, _ = run(cfg, names, overrides=list(hydra_cfg.overrides.task))
    print(format_run(record))
    print(f"record: {path}")


def main(argv: list[str] | None = None, prog: str = "python -m benchmark") -> int:
    """Check the words of the command line, then hand them to Hydra (which reads `sys.argv`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if cli.wants_help(argv):
        print(run_help(prog))
        return 0
    try:
        checked = config.check_overrides(argv)
    except FerbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.argv = [sys.argv[0], *checked]
    _hydra_main()
    return 0


#: groups that hold the shared parts of other configs (listed in their defaults), not choices of a run
PARTS = ("detector/crop", "method/base")
#: groups that are parts of a method, chosen with a package: features@method.features=hog
METHOD_PARTS = ("classifier", "features")


def run_help(prog: str) -> str:
    """`ferbench run --help`: the config groups with their options and defaults, and the top-level keys
    with their defaults and the comments conf/config.yaml gives them."""
    import textwrap

    from omegaconf import OmegaConf

    top = OmegaConf.load(CONF_DIR / "config.yaml")
    defaults = {k: v for item in top.defaults if not isinstance(item, str) for k, v in item.items()}
    known = {g: o for g, o in config.groups().items() if g not in PARTS}
    width = max(map(len, known)) + 3

    def wrapped(text: str, indent: str) -> list[str]:
        return textwrap.wrap(text, 110, initial_indent=indent, subsequent_indent=indent)

    lines = [
        f"usage: {prog} [group=option ...] [key=value ...] [+group=option] [-m]",
        "",
        *wrapped(
            "Run one experiment: load a data set, find the faces, fit and score the method under the "
            "protocol, and write a JSON record to results_dir. An identical run already recorded is "
            "printed, not run again. With -m (--multirun), comma-separated values are swept: one run per "
            "combination.",
            "",
        ),
        "",
        "config groups (conf/<group>/<option>.yaml; * the default, + added with +group=option,",
        "@ a part of the method: features@method.features=hog):",
    ]
    for group, options in known.items():
        mark = "" if group in defaults or group == "model" else "@" if group in METHOD_PARTS else "+"
        text = ", ".join(f"{o}*" if o == defaults.get(group) else o for o in options)
        lines += textwrap.wrap(
            text, 110, initial_indent=f"  {mark + group:<{width}}", subsequent_indent=" " * (width + 2)
        )
    lines += ["", "keys (default):"]
    container = OmegaConf.to_container(top, resolve=False)
    for key, comment in _commented_keys(CONF_DIR / "config.yaml"):
        if key in ("defaults", "hydra"):
            continue
        value = container[key]
        lines.append(f"  {key}={'null' if value is None else str(value).lower() if isinstance(value, bool) else value}")
        lines += wrapped(comment, "      ")
    lines += [
        "",
        *wrapped(
            "A group's own keys: `--cfg job` prints the composed config; set one with "
            "<group>.<key>=value (method.epochs=30, protocol.k=10; detector=haar "
            "detector.margin=0.2). --cfg prints one run's config: not with -m.",
            "",
        ),
        "",
        "examples:",
    ]
    lines += [f"  {e.replace('ferbench run', prog)}" for e in EXAMPLES]
    return "\n".join(lines)


def _commented_keys(path) -> list[tuple[str, str]]:
    """(top-level key, the comment lines just above it, joined) of a YAML file, in order."""
    found, comment = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            comment.append(line.lstrip("# ").strip())
        elif re.match(r"^[A-Za-z_]\w*:", line):
            found.append((line.split(":", 1)[0], " ".join(comment)))
            comment = []
        elif not line.strip() or not line.startswith(" "):
            comment = []
    return found


if __name__ == "__main__":
    sys.exit(main())
