"""The run record's schema (`RunRecord`, version `SCHEMA_VERSION`) and the migrations that bring a record
of any older shape to it.

`benchmark.records.load` runs every record it reads through `migrate`, so readers (the report, the
applications, `ferbench run` finding an identical run) see only the current shape: this module is the
one place where older spellings become current ones. A migration is a function from the record of
one version to the next; `MIGRATIONS[v]` upgrades version v. A record without `schema` is version 1.

Versions:
1. The records of 2026-11 to 2026-12-04: `family` and `threads` not always there (stated later), the CNN
   recipe spelled in older ways (`tta` true / false for flip / none; weight averaging as `swa_epochs`
   before `swa_fraction`, or absent before it existed), options added to a method after its records
   (photometric augmentation, a pretrained model's logit adjustment) given as `+method.<key>` in
   their commands.
2. Every field stated; the CNN recipe in today's spelling (`tta` a mode name; `swa_fraction`, 0 where
   there was no weight averaging); commands as they run today (`method.<key>`, not `+method.<key>`, for
   the keys conf/ now lists); `experiment`, the named experiment (conf/experiment/) the run is, or null.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import DataError

SCHEMA_VERSION = 2
#: a CNN's settings that were given as `+method.<key>` (absent from conf/method/cnn.yaml) before version 2
ADDED_CNN_KEYS = ("contrast", "brightness", "blur", "noise", "soft_targets")
#: the same for method=pretrained (conf/method/pretrained.yaml)
ADDED_PRETRAINED_KEYS = ("logit_adjust",)
#: `_target_`s of the CNN estimator, and of the pretrained-model method
CNN_TARGET = "deep.estimator.CNNClassifier"
PRETRAINED_TARGET = "benchmark.methods.Pretrained"
#: records written before the estimator stated its family: deep when its `_target_` is in `deep`
LEGACY_DEEP_PREFIX = "deep."


class Metric(BaseModel):
    """A score over folds: its mean and standard deviation (fractions)."""

    model_config = ConfigDict(extra="forbid")
    mean: float
    std: float


class Metrics(BaseModel):
    """Accuracy and macro-F1 over folds, and both of the predictions pooled over folds."""

    model_config = ConfigDict(extra="forbid")
    accuracy: Metric
    macro_f1: Metric
    pooled: dict[str, float]


class Environment(BaseModel):
    """What a reader needs to reproduce the run (`benchmark.records.environment`)."""

    model_config = ConfigDict(extra="forbid")
    command: str
    argv: list[str]
    python: str
    platform: str
    cpu_count: int | None
    packages: dict[str, str]
    git: dict
    seed: int
    time: str


class RunRecord(BaseModel):
    """One run record (JSON), version `SCHEMA_VERSION`: what ran (the group choices, the resolved
    `config` and its `run_key`, `experiment`), on which data (`data_fingerprint`, counts, what was
    skipped), its scores (overall, per split, per class, per fold; every test prediction) and timings,
    and its environment. Unknown fields are refused: a new field is a new version."""

    model_config = ConfigDict(extra="forbid")
    schema_: int
    run_key: str
    experiment: str | None
    dataset: str
    protocol: str
    method: str
    detector: str | None
    model: str | None
    perturb: str | None
    family: str
    threads: int | None
    config: dict
    data_fingerprint: str | None
    classes: list[str]
    test_set: str
    n_folds: int
    metrics: Metrics
    metrics_by_split: dict[str, Metrics]
    per_class: dict[str, dict]
    confusion_matrix: dict
    folds: list[dict]
    timings: dict[str, float]
    n_images: int
    n_subjects: int | None
    skipped: dict
    excluded: dict
    faces: dict
    predictions: dict
    perturbations: dict | None = None
    perturbed_predictions: dict | None = None
    models: dict[str, str] | None = None
    env: Environment


#: the order of a record's fields in its file (those of a run that has none of an optional one are left out)
FIELDS = (
    "schema",
    "run_key",
    "experiment",
    "dataset",
    "protocol",
    "method",
    "detector",
    "model",
    "perturb",
    "family",
    "threads",
    "config",
    "data_fingerprint",
    "classes",
    "test_set",
    "n_folds",
    "metrics",
    "metrics_by_split",
    "per_class",
    "confusion_matrix",
    "folds",
    "timings",
    "n_images",
    "n_subjects",
    "skipped",
    "excluded",
    "faces",
    "predictions",
    "perturbations",
    "perturbed_predictions",
    "models",
    "env",
)
OPTIONAL = ("perturbations", "perturbed_predictions", "models")


def validate(record: dict, source: str = "record") -> dict:
    """`record` if it has the current shape, else a DataError that names `source` and the first field
    that is missing or of the wrong type. Returns the record with its fields in `FIELDS`' order."""
    try:
        RunRecord.model_validate({("schema_" if k == "schema" else k): v for k, v in record.items()})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]).replace("schema_", "schema")
        raise DataError(
            f"{source} is not a run record of schema {SCHEMA_VERSION}: {where}: {first['msg']} "
            f"({exc.error_count()} problem(s))"
        ) from None
    return {k: record[k] for k in FIELDS if k in record and not (k in OPTIONAL and record[k] is None)}


def migrate(record: dict, source: str = "record") -> dict:
    """`record` of any version brought to `SCHEMA_VERSION` by `MIGRATIONS`, in order, then validated.
    A record of a newer version than this code knows is a DataError (update ferbench)."""
    version = record.get("schema", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise DataError(
            f"{source} has schema {version!r}; this ferbench reads schemas up to {SCHEMA_VERSION}: update ferbench"
        )
    for step in range(version, SCHEMA_VERSION):
        record = MIGRATIONS[step](dict(record))
    return validate(record, source)


# -- version 1 -> 2 ---------------------------------------------------------------------------------------


def _v1_to_v2(record: dict) -> dict:
    from benchmark.records import threads

    config = record["config"]
    method = config["method"]
    if "family" not in record:
        record["family"] = "deep" if str(method.get("_target_", "")).startswith(LEGACY_DEEP_PREFIX) else "classical"
    if record["family"] == "deep" and record.get("threads") is None:
        record["threads"] = threads(method, record["env"].get("cpu_count"))
    record.setdefault("threads", None)
    record.setdefault("perturb", None)
    record.setdefault("experiment", None)
    record.setdefault("data_fingerprint", None)
    record["config"] = _current_recipe(config)
    record["env"] = {**record["env"], "command": _current_command(record["env"]["command"], record["config"])}
    record["schema"] = 2
    return record


def _current_recipe(node):
    """A config with every CNN node (`_target_` CNN_TARGET, an ensemble's member too) in today's spelling:
    `tta` a mode name (true / false were flip / none), weight averaging as `swa_fraction` (0 where
    there was none; an older `swa_epochs` k of E epochs as the 2-decimal fraction f with floor(f E) = k
    that is nearest k / E, or k / E itself when none is, which trains the same)."""
    if isinstance(node, list):
        return [_current_recipe(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _current_recipe(v) for k, v in node.items()}
    if node.get("_target_") != CNN_TARGET:
        return node
    if isinstance(node.get("tta"), bool):
        node["tta"] = "flip" if node["tta"] else "none"
    if "swa_epochs" in node:
        node["swa_fraction"] = _fraction(node.pop("swa_epochs"), node["epochs"])
    node.setdefault("swa_fraction", 0)
    return node


def _fraction(swa_epochs: int, epochs: int) -> float:
    """The weight-averaging fraction that averages `swa_epochs` of `epochs` (`deep.train.TrainConfig`
    averages floor(fraction x epochs) epochs): the 2-decimal one nearest swa_epochs / epochs when one
    gives that count, else the exact ratio."""
    if swa_epochs <= 0:
        return 0
    exact = swa_epochs / epochs
    two_decimals = math.ceil(exact * 100 - 1e-9) / 100
    return two_decimals if math.floor(two_decimals * epochs + 1e-9) == swa_epochs else exact


_ADDED = re.compile(
    r"(?<!\S)\+(method(?:\.estimator)?\.(?:" + "|".join(ADDED_CNN_KEYS + ADDED_PRETRAINED_KEYS) + r"))="
)


def _current_command(command: str, config: dict) -> str:
    """A record's command as it runs today: the options conf/ lists since version 2 set, not added
    (`+method.noise=` is `method.noise=`), and weight averaging given as the `swa_fraction` of its
    (migrated) config where the command gave `swa_epochs`."""
    command = _ADDED.sub(r"\1=", command)
    method = config["method"].get("estimator", config["method"])
    if isinstance(method, dict) and "swa_fraction" in method:
        command = re.sub(
            r"(?<!\S)(\+?)(method(?:\.estimator)?)\.swa_epochs=\S+",
            lambda m: f"{m[2]}.swa_fraction={method['swa_fraction']}",
            command,
        )
    return command


MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}
