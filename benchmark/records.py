"""Run records: one JSON file per run, the source of truth for every table in results/.

A record is written once, atomically (`core.io.write_atomic`), so a crash or Ctrl-C never leaves a
half-written record; its shape is `benchmark.schema.RunRecord`, and every record read goes through
`benchmark.schema.migrate`. Its file name ends with the run key (`run_key`), a hash of the resolved
config without what cannot change the numbers (paths, `redo`: `VOLATILE_KEYS`) and without the options
at their neutral value (`NEUTRAL`), so an identical run is found and skipped before any work, and an
option added to a method with its neutral default moves no key.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from benchmark.schema import migrate
from core.errors import ConfigError, DataError
from core.io import write_atomic

#: config keys that say where things are, how to schedule or how much to print, never what is computed
VOLATILE_KEYS = frozenset(
    {
        "results_dir",
        "redo",
        "data_root",
        "cache_dir",
        "root",
        "n_jobs",
        "run_dir",
        "verbose",
        "save_model",
        "models_dir",
        "resume",
    }
)
#: options added to a method after it had records, at the value that does what the method did before the
#: option existed (by the `_target_` of the config node that holds them): left out of the run key at that value,
#: so a new option goes into conf/ with its neutral default and moves no committed key. Add a new option here.
NEUTRAL = {
    "deep.estimator.CNNClassifier": {
        "contrast": 0,
        "brightness": 0,
        "blur": 0,
        "noise": 0,
        "swa_fraction": 0,
        "soft_targets": "crossentropy",
        "backbone_lr": 1.0,
        "freeze_epochs": 0,
        "image_size": None,
    },
    "benchmark.methods.Pretrained": {"logit_adjust": 0, "prior": "fit", "framing": "config"},
    "benchmark.datasets.merged.Merged": {"options": {}},
    "benchmark.protocols.KFold": {"repeats": 1},
    "benchmark.protocols.SubjectKFold": {"repeats": 1},
}
#: settings that change nothing while another is at its neutral value: a learning rate of weight averaging
#: that does not happen
IDLE = {
    "deep.estimator.CNNClassifier": {"swa_lr": "swa_fraction"},
    "benchmark.methods.Pretrained": {"prior": "logit_adjust"},
}
#: distributions whose versions every record lists (those installed)
PACKAGES = (
    "ferbench",
    "numpy",
    "scipy",
    "scikit-learn",
    "scikit-image",
    "opencv-contrib-python-headless",
    "opencv-contrib-python",
    "pillow",
    "torch",
    "torchvision",
    "timm",
    "mtcnn",
    "tensorflow-cpu",
    "hydra-core",
    "joblib",
)
KEY_CHARS = 12
#: the config groups that name a run (and its record file)
GROUPS = ("dataset", "protocol", "method", "detector", "model", "perturb")


def without_volatile(obj):
    """`obj` (a config, or a part of one) without its `VOLATILE_KEYS`, at any depth."""
    if isinstance(obj, dict):
        return {k: without_volatile(v) for k, v in obj.items() if k not in VOLATILE_KEYS}
    if isinstance(obj, list):
        return [without_volatile(v) for v in obj]
    return obj


def without_neutral(obj):
    """`obj` (a config, or a part of one) without the options at their neutral value (`NEUTRAL`) and the
    settings idle beside one (`IDLE`), at any depth."""
    if isinstance(obj, list):
        return [without_neutral(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    target = obj.get("_target_")
    neutral, idle = NEUTRAL.get(target, {}), IDLE.get(target, {})
    at_neutral = {k for k, v in obj.items() if k in neutral and _same(v, neutral[k])}
    at_neutral |= {k for k, other in idle.items() if k in obj and (other in at_neutral or other not in obj)}
    return {k: without_neutral(v) for k, v in obj.items() if k not in at_neutral}


def _same(value, neutral) -> bool:
    return type(value) is not bool and value == neutral


def canonical(config: dict) -> dict:
    """What a run key hashes: `config` without `VOLATILE_KEYS` and without neutral options."""
    return without_neutral(without_volatile(config))


def run_key(config: dict) -> str:
    """A stable hash of what determines a run's numbers: the resolved config's `canonical` form."""
    text = json.dumps(canonical(config), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def record_name(names: dict, key: str) -> str:
    """A record's file name: its run's group choices and the first characters of its run key."""
    parts = [str(names[k]).replace("/", "-") for k in GROUPS if names.get(k)]  # model=timm/resnet18: one file
    return "__".join(parts) + f"__{key[:KEY_CHARS]}.json"


def lookup(cfg) -> tuple[dict, str, Path | None]:
    """A run config's resolved form, its run key, and the record of an identical earlier run (None
    when there is none, or when `cfg.redo` asks to run again)."""
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(cfg, resolve=True)
    key = run_key(config)
    return config, key, None if cfg.get("redo", False) else find(cfg.results_dir, key)


def recorded(cfg) -> Path | None:
    """The record of an identical earlier run made from the data that is under data_root now; None
    when there is none (or `redo` asks to run again). An identical config whose record was made from
    other files (fixed, replaced, or another data_root) is a ConfigError that says what to do. With no
    data here at all the record is returned: it is what that config gave on the data it names."""
    path = lookup(cfg)[2]
    if path is None:
        return None
    record = load(path)
    made_from = record.get("data_fingerprint")
    if made_from is not None:  # None: generated data (synthetic), the config is the data
        from benchmark.config import instantiate_group

        loader, protocol = instantiate_group(cfg, "dataset"), instantiate_group(cfg, "protocol")
        protocol.check_loader(loader)
        here = protocol.data_fingerprint(loader.fingerprint(cfg.get("cache_dir")), cfg)
        if here is not None and here != made_from:
            raise ConfigError(
                f"{path} was made from other data than the files under {loader.root} now (fingerprint "
                f"{made_from[:12]}, here {here[:12]}): they changed, or data_root points elsewhere. "
                "redo=true runs the config on this data and replaces the record; another results_dir "
                "keeps both."
            )
    _check_threads(record, path, cfg)
    return path


def threads(method_config: dict, cpu_count: int | None = None) -> int:
    """The CPU threads a deep method computes with: its CNN's n_jobs (the method's own, or its ensemble
    member's), or, when that is null, the cores (torch's default: `cpu_count`, this machine's if None)."""
    member = method_config.get("estimator")
    node = member if isinstance(member, dict) else method_config
    return int(node.get("n_jobs") or cpu_count or os.cpu_count())


def _check_threads(record: dict, path: Path, cfg) -> None:
    """A deep method's predictions depend on its thread count (the order of its sums in bf16), which
    the run key leaves out (n_jobs only schedules classical work): a record computed with another
    count is not taken as this run's."""
    from omegaconf import OmegaConf

    if record["family"] != "deep":
        return
    made_with = record["threads"]
    here = threads(OmegaConf.to_container(cfg.method, resolve=True))
    if made_with != here:
        raise ConfigError(
            f"{path} was computed with {made_with} CPU thread(s), and this run would use {here}: a CNN's "
            f"predictions depend on the thread count. Set method.n_jobs={made_with} to find it, or "
            "redo=true to compute and replace it."
        )


def find(results_dir: str | Path, key: str) -> Path | None:
    """The record of an identical earlier run, if one is there and intact."""
    for path in sorted(Path(results_dir).glob(f"*__{key[:KEY_CHARS]}.json")):
        try:
            if json.loads(path.read_text()).get("run_key") == key:
                return path
        except (OSError, json.JSONDecodeError):
            continue  # not a record we wrote whole: ignore it, the run is redone and replaces it
    return None


def write(path: str | Path, record: dict) -> Path:
    """Write the record as JSON, atomically: `path` holds either nothing or the whole record."""

    def dump(f):
        json.dump(record, f, indent=1, sort_keys=False)
        f.write("\n")

    return write_atomic(path, dump)


def load(path: str | Path) -> dict:
    """The record at `path` in the current shape (`benchmark.schema.migrate`). Raises DataError for a
    file that is not JSON or not a run record."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not a readable JSON run record ({exc})") from None
    if not isinstance(raw, dict) or "run_key" not in raw:
        raise DataError(f"{path} is not a run record (no run_key)")
    return migrate(raw, str(path))


def environment(seed: int, overrides: list[str] | None = None) -> dict:
    """What a reader needs to reproduce the run: command line, versions, commit, seed, machine, and the time
    this is called (the runner calls it as a run starts, so the commit is the one whose code ran).

    `overrides` are the run's own overrides (one job of a sweep), which make its command; without
    them the command is this process's command line.
    """
    versions = {}
    for dist in PACKAGES:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    command = "python -m benchmark " + " ".join(overrides) if overrides is not None else " ".join(sys.argv)
    return {
        "command": command.strip(),
        "argv": list(sys.argv),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": versions,
        "git": _git_state(),
        "seed": seed,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


#: the commit a copy of the source tree without its .git folder was made from, as whoever copied it states it
#: (a tree rsync'd to a cluster node or a GPU machine); read only where there is no .git
COMMIT_ENV = "FERBENCH_GIT_COMMIT"


def _git_state(root: Path | None = None) -> dict:
    """The commit and dirtiness of the checkout this code runs from (`root`: the folder above the
    package). Without a .git folder: the commit `COMMIT_ENV` states, with dirtiness unknown (None), or
    None for both (an installed wheel: its version is in `packages`), whatever repository the working
    folder is in."""
    root = Path(__file__).resolve().parent.parent if root is None else root
    if not (root / ".git").exists():
        return {"commit": os.environ.get(COMMIT_ENV) or None, "dirty": None}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def add_fingerprints(results_dir: str | Path, data_root: str | Path, cache_dir: str | Path | None = None) -> dict:
    """Give every record of real data under `results_dir` that has none the fingerprint of its data
    set's files under `data_root`, after checking that loading them gives the images the record
    counted (so the files are what the run read). Returns {record name: what was done}."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    if not Path(data_root).is_dir():
        raise ConfigError(f"is {data_root}, which is not a folder: name the one that holds the data sets", "data_root")
    done = {}
    for path in sorted(Path(results_dir).glob("*.json")):
        record = load(path)
        dataset_cfg = dict(record.get("config", {}).get("dataset", {}))
        if record["data_fingerprint"] is not None or "root" not in dataset_cfg:
            continue  # already there, or generated data (synthetic), or not a record
        dataset_cfg["root"] = str(Path(data_root) / Path(dataset_cfg["root"]).name)
        loader = instantiate(OmegaConf.create(dataset_cfg))
        dataset = loader.load()
        dropped = len(record.get("faces", {}).get("dropped", []))
        if (len(dataset), len(dataset.skipped)) != (record["n_images"] + dropped, record["skipped"]["count"] - dropped):
            done[path.name] = (
                f"not added: {loader.root} gives {len(dataset)} images ({len(dataset.skipped)} "
                f"skipped), the record counted {record['n_images'] + dropped}"
            )
            continue
        fingerprint = loader.fingerprint(cache_dir)
        write(path, {**record, "data_fingerprint": fingerprint})
        done[path.name] = f"added {fingerprint[:12]}"
    return done


def upgrade(results_dir: str | Path) -> dict:
    """Rewrite every record under `results_dir` in the current shape (`benchmark.schema.migrate`), with
    the run key of its config as the current `run_key` computes it: a record whose key moved (an older
    spelling of its config, or options now left out at their neutral value) is renamed to it, so the
    config's command today finds it. Where two records now share a key (one config run twice, e.g. before
    and after the spelling of a default changed), the most recent (`env.time`) takes the key's name and the
    other becomes `<name>.superseded.json` (`<name>.superseded-2.json`, ...): kept, read by the report as an
    earlier run of that config, never found as the run. A record made before its experiment file existed
    gets the experiment's name (`benchmark.experiments.tags`). Returns {record name: what was done}; a file
    that is not a record is left as it is, and said so."""
    from benchmark.experiments import tags

    if not Path(results_dir).is_dir():
        raise ConfigError(f"is {results_dir}, which is not a folder of run records", "results_dir")
    named, done = tags(), {}
    for path in sorted(Path(results_dir).glob("*.json")):
        if not path.exists():  # moved aside as superseded earlier in this loop
            continue
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            record = load(path)
        except (DataError, OSError, ValueError) as exc:
            done[path.name] = f"left alone: {exc}"
            continue
        key = run_key(record["config"])
        target = path.with_name(path.name.split(".", 1)[0].rsplit("__", 1)[0] + f"__{key[:KEY_CHARS]}.json")
        record = {**record, "run_key": key, "experiment": record["experiment"] or named.get(key)}
        in_place = path == target or path.name.startswith(target.name[: -len(".json")] + ".superseded")
        if in_place:
            if record != raw:
                write(path, record)
                named_now = record["experiment"] != raw.get("experiment")
                done[path.name] = (
                    f"names its experiment, {record['experiment']}"
                    if named_now and {**raw, "experiment": record["experiment"]} == record
                    else "rewritten in the current shape"
                )
            continue
        if target.exists():
            occupant = load(target)
            if occupant["env"]["time"] > record["env"]["time"]:
                record, occupant = occupant, record
            aside = _superseded_name(target)
            write(aside, {**occupant, "run_key": key})
            done[path.name] = (
                f"{key[:KEY_CHARS]} is also {target.name}'s run key: the earlier of the two is now {aside.name}"
            )
        else:
            done[path.name] = f"renamed {target.name} (run key {key[:KEY_CHARS]})"
        write(target, record)
        path.unlink()
    return done


def _superseded_name(path: Path) -> Path:
    stem, n = path.name[: -len(".json")], 1
    while True:
        candidate = path.with_name(f"{stem}.superseded{'' if n == 1 else f'-{n}'}.json")
        if not candidate.exists():
            return candidate
        n += 1


RECORDS_EXAMPLES = (
    "ferbench records                                 # results/runs/ in the current shape",
    "ferbench records data_root=~/fer-data              # and the fingerprints of their data",
    "ferbench records results_dir=my_runs",
)


def records_options():
    """The options of `ferbench records`."""
    from benchmark.cli import Option, run_default

    return (
        Option("results_dir", run_default("results_dir"), "the folder of run records"),
        Option(
            "data_root",
            None,
            "the folder holding the data sets the records were made from: give the records "
            "that have none the fingerprint of their data (null: do not)",
        ),
        Option("cache_dir", None, "the face-crop cache, to fingerprint detections too (null: none)"),
    )


def main(argv: list[str] | None = None, prog: str = "python -m benchmark.records") -> int:
    """`ferbench records [results_dir=...] [data_root=DIR] [cache_dir=...]`: bring the records up to date
    (`upgrade`; with data_root, `add_fingerprints`), and print what was done to each."""
    from benchmark import cli

    argv = list(sys.argv[1:] if argv is None else argv)
    if cli.wants_help(argv):
        print(
            cli.help_text(
                prog,
                "Bring the run records up to date: rewrite them in the current schema (renamed "
                "where their run key moved), and with data_root give those that have none the "
                "fingerprint of their data, after checking the files give the images each "
                "record counted.",
                records_options(),
                RECORDS_EXAMPLES,
            )
        )
        return 0

    def bring_up_to_date() -> int:
        args, _, _ = cli.parse(argv, records_options())
        done = upgrade(args["results_dir"])
        if args["data_root"] is not None:
            done |= add_fingerprints(args["results_dir"], args["data_root"], args["cache_dir"])
        for name, what in done.items():
            print(f"{name}: {what}")
        print(f"{len(done)} record(s) changed under {args['results_dir']}" if done else "records up to date")
        return 0

    return cli.run_main(bring_up_to_date)


if __name__ == "__main__":
    sys.exit(main())
