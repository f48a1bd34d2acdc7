"""Trained models as the applications use them: loaded from any file ferbench writes, together with
the classes they predict and the face stage (detector, crop size, margin, alignment, preprocessing)
their training crops came from, so that a photo is cropped the way the model learned faces.

Sources (`load_model`):
- a CNN checkpoint `*.pt` (`deep.estimator.CNNClassifier.save`; torch's weights-only loader);
- an ONNX file `*.onnx` (`deep.export.export_onnx`; run by onnxruntime, no torch needed);
- a saved classical pipeline `*.skops` (`save_model`): skops, not pickle, so loading a file can
  run no code; only scikit-learn's, numpy's and ferbench's own types are accepted in it;
- a run record `*.json`: the model its run saved (`save_model=true`; `record.json:<fold>` picks one
  fold's of a cross-validated run), or for older CNN records the `model.pt` in its run_dir;
- nothing: the shipped model, named by `results/models/shipped.yaml` (which also says how photos
  are cropped for it, and the logit adjustment of its probabilities, `core.composites.LogitAdjust`). Replacing the
  shipped model means editing that file, nothing else.
Relative paths are tried from the working folder, then from the repository root (`core.io.SHIPPED_ROOT`,
which an installed wheel lays out the same for the files it ships).

A file that is truncated or damaged, of another kind than its suffix says, or an ONNX model that ferbench
did not export (a model zoo's: no class list in its metadata, another input than uint8 crops) is a
`ConfigError` in one line that says what ferbench needs, never a parser's traceback. Whatever the model,
a face's label is the class of the highest score it shows (`FaceModel.predict`), and `calibrated` says
whether those scores are probabilities.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import validation as check
from core.composites import Average, Composite, LogitAdjust
from core.errors import ConfigError
from core.images import image_stack
from core.io import SHIPPED_ROOT, find_file, write_atomic
from core.labels import CLASS_NAMES

#: the manifest of the model the applications use when none is named
SHIPPED = SHIPPED_ROOT / "results" / "models" / "shipped.yaml"
SUFFIXES = (".pt", ".onnx", ".skops", ".json")
#: where a committed model sits: results/models/<data set>__<model>/ (the run_dir of the run that trained it; a
#: timm or torchvision model's folder names it with a hyphen, fer2013__timm-resnet18)
MODEL_DIR = re.compile(r"results/models/([a-z0-9]+)__([a-z0-9_-]+)/")
#: packages whose types a .skops file may hold besides scikit-learn's and numpy's
OWN_PACKAGES = ("benchmark.", "features.", "deep.", "core.")


@dataclass
class FaceModel:
    """A fitted classifier of face crops and what the applications need to know about it.

    estimator: has `predict_proba` (or `decision_function`) on uint8 crops (N, S, S), S = `input_size`.
    classes: the class names, in the order of the columns of `predict_proba`.
    face_stage: how the training crops were made: {"detector": "haar" | "mtcnn" | "none", and that
        detector's parameters (conf/detector/<name>.yaml's keys)}.
    source: the file it was loaded from; family: classical | deep.
    calibrated: whether the scores are the model's probabilities (False: a softmax of an SVM's
        decision values, which rank the classes but are not calibrated probabilities).
    """

    estimator: object
    classes: list[str]
    input_size: int
    face_stage: dict
    source: str
    family: str
    calibrated: bool = True
    details: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The model file, relative to the repository when it is in it (an average: "average of" its
        members'), with what a composite estimator does to it (", logit-adjusted (tau T)":
        `core.composites.Composite.describe`)."""
        if "members" in self.details:
            name = "average of " + " + ".join(m.name for m in self.details["members"])
        else:
            path = Path(self.source).resolve()
            name = path.relative_to(SHIPPED_ROOT).as_posix() if path.is_relative_to(SHIPPED_ROOT) else str(path)
        for composite in reversed(_composites(self.estimator)):
            name = composite.describe(name)
        return name

    def _checked(self, crops) -> np.ndarray:
        if isinstance(crops, (list, tuple)) and not crops:
            return np.zeros((0, self.input_size, self.input_size), np.uint8)
        return image_stack(crops, self.input_size, self.name)

    @property
    def score_name(self) -> str:
        """What its scores are, in the words the picture, the JSON and the page use: "probability", or
        "score" for an uncalibrated model (`calibrated` False: not to be read as a probability)."""
        return "probability" if self.calibrated else "score"

    def predict(self, crops: np.ndarray) -> list[str]:
        """The class name of each crop: the class of its highest score in `predict_proba`, for every model,
        so that a label is always the class with the highest score shown beside it (an SVM's own `predict`,
        a one-vs-one vote, and a Platt-scaled SVM's, can name another class)."""
        return [self.classes[i] for i in self.predict_proba(crops).argmax(axis=1)]

    def predict_proba(self, crops: np.ndarray) -> np.ndarray:
        """(N, K) float32 scores of uint8 crops (N, S, S): probabilities, or the softmax of decision
        values for a model without them (`calibrated` False). A crop of another side than
        `input_size` or another dtype is refused with a ValueError (no silent rescaling)."""
        crops = self._checked(crops)
        if len(crops) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        if self.calibrated:
            return np.asarray(self.estimator.predict_proba(crops), dtype=np.float32)
        scores = np.asarray(self.estimator.decision_function(crops), dtype=np.float64)
        if scores.ndim == 1:  # two classes: one decision value, positive for the second
            scores = np.stack([-scores, scores], axis=1)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return (scores / scores.sum(axis=1, keepdims=True)).astype(np.float32)


def resolve(path: str | Path) -> Path:
    """`path` as given when it exists, else relative to the repository root (`core.io.find_file`); a
    ConfigError otherwise."""
    found = find_file(path)
    if found is None:
        raise ConfigError(f"model file {path} not found (looked in {Path.cwd()} and in {SHIPPED_ROOT})")
    return found


def model_folder(path: str | Path) -> tuple[str, str] | None:
    """(data set, name) of the committed model folder results/models/<data set>__<name>/ that `path`
    names or sits in (the data set is the one its model was trained on); None for a path elsewhere."""
    found = MODEL_DIR.search(str(path).replace("\\", "/").rstrip("/") + "/")
    return (found[1], found[2]) if found else None


def split_record(source: str | Path) -> tuple[str, str | None]:
    """(record path, fold) of a run record named as `record.json` or `record.json:<fold>`."""
    text = str(source)
    found = re.match(r"(.*?\.json):(.*)", text, re.IGNORECASE | re.DOTALL)
    return (found[1], found[2]) if found else (text, None)


def model_suffix(source: str | Path) -> str:
    """The lower-case suffix of the file a model source names (".pt", ".json" for `record.json:<fold>`...);
    a name in `SUFFIXES` is a model file."""
    return Path(split_record(source)[0]).suffix.lower()


def read_record(source: str | Path) -> dict:
    """The run record `source` names (`record.json`, or `record.json:<fold>`). Raises ConfigError when
    it is not there, or is not a whole JSON object (truncated, damaged, another kind of file)."""
    return _record_of(resolve(split_record(source)[0]))


def _record_of(path: Path) -> dict:
    try:
        record = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f"at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "it is not text"
        raise ConfigError(
            f"{path} is not a complete run record ({where}): it is truncated, damaged or another kind of file; "
            "copy it again, or name a model file (.pt, .onnx, .skops) instead"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror or exc}): check its permissions") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{path} is JSON but not a run record (a record is one JSON object): name a run record")
    return record


def shipped() -> dict:
    """The shipped model's manifest: `model` (the resolved path, or paths of an average) and `face_stage`."""
    import yaml

    manifest = yaml.safe_load(SHIPPED.read_text())
    models = manifest["model"]
    paths = [str((SHIPPED.parent / m).resolve()) for m in (models if isinstance(models, list) else [models])]
    return {**manifest, "model": paths if isinstance(models, list) else paths[0]}


def load_model(source: str | Path | list | None = None, tta: str | None = None) -> FaceModel:
    """Load a model (see the module docstring for the sources; a list of them: their average,
    `averaged`); `tta` overrides a CNN checkpoint's test-time augmentation (none | flip | affine; an
    ONNX file has it built in). Raises ConfigError for a missing file, an unknown suffix, or a file
    of the wrong kind."""
    if source is not None and not isinstance(source, (str, Path)):  # any sequence: a list, a Hydra ListConfig
        return averaged([load_model(s, tta) for s in source])
    if source is None:
        manifest = shipped()
        model = load_model(manifest["model"], tta)
        model.face_stage = dict(manifest["face_stage"])
        adjust = manifest.get("logit_adjust")
        if adjust is not None:
            if not isinstance(adjust, dict) or set(adjust) != {"tau", "record"}:
                raise ConfigError(
                    f"{SHIPPED}: logit_adjust must be a mapping with tau (a number) and record (the run "
                    f"record that counted the class frequencies), got {adjust!r}",
                    "logit_adjust",
                )
            record = SHIPPED.parent / str(adjust["record"])
            if not record.is_file():
                raise ConfigError(f"{SHIPPED}: logit_adjust.record {record} is not there", "logit_adjust")
            model = logit_adjusted(model, prior_of(record), adjust["tau"])
        model.details["shipped"] = True
        return model
    text, fold = split_record(source)  # a record may name one of its folds
    path = resolve(text)
    suffix = path.suffix.lower()
    if suffix in SUFFIXES:
        _check_readable(path, suffix)
    if suffix == ".json":
        return _from_record(path, fold, tta)
    if suffix == ".pt":
        return _from_checkpoint(path, tta)
    if suffix == ".onnx":
        return _from_onnx(path)
    if suffix == ".skops":
        return _from_skops(path)
    raise ConfigError(f"{path}: unknown model file type '{suffix}'; expected one of {', '.join(SUFFIXES)}")


def family_of(source) -> str:
    """deep | classical: what a model source is, read without loading it: a CNN checkpoint or an ONNX file is
    deep, a saved pipeline classical, a run record its run's family, a list deep when all of it is."""
    if source is not None and not isinstance(source, (str, Path)):
        return "deep" if all(family_of(s) == "deep" for s in source) else "classical"
    if source is None:
        return family_of(shipped()["model"])
    suffix = model_suffix(source)
    if suffix == ".json":
        from benchmark.schema import migrate

        return migrate(read_record(source), str(source))["family"]
    return "deep" if suffix in (".pt", ".onnx") else "classical"


def _names(codes, path: Path | str = "the model") -> list[str]:
    """The class names of a model file's class codes (0-7, `core.labels.CLASS_NAMES`); a ConfigError naming
    the file for anything else (a model trained on labels that are not ferbench's codes)."""
    try:
        names = [CLASS_NAMES[int(c)] for c in codes if int(c) == c and 0 <= int(c)]
    except (TypeError, ValueError, IndexError):
        names = []
    if not names or len(names) != len(list(codes)) or len(set(names)) != len(names):
        raise ConfigError(
            f"{path} predicts classes {list(codes)[:10]!r}, not ferbench's class codes (distinct integers 0-"
            f"{len(CLASS_NAMES) - 1}: {', '.join(CLASS_NAMES)}): train it with ferbench to use it here"
        )
    return names


#: what each kind of model file is, for the messages that refuse one
KINDS = {
    ".pt": "CNN checkpoint",
    ".onnx": "ONNX model",
    ".skops": "saved classical pipeline",
    ".json": "run record",
}


def _check_readable(path: Path, suffix: str) -> None:
    """A ConfigError, in one line, when the file is no file, cannot be read, or (a .pt or .skops file: a zip
    archive whose every member's CRC is checked; an ONNX file: `_onnx_checked`) is cut short or damaged, so
    that no parser's traceback reaches the user."""
    import zipfile

    if not path.is_file():
        raise ConfigError(f"{path} is not a file: name a model file ({', '.join(SUFFIXES)})")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror or exc}): check its permissions") from None
    if suffix not in (".pt", ".skops"):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip() is not None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError):
        damaged = True
    if damaged:
        raise ConfigError(
            f"{path} is not a complete {KINDS[suffix]}: it is truncated, damaged or another kind of file; "
            "copy it again, or save the model again (save_model=true)"
        )


def _from_checkpoint(path: Path, tta: str | None) -> FaceModel:
    from deep.estimator import CNNClassifier

    est = CNNClassifier.load(path)
    if tta is not None:
        est.set_params(tta=tta)
    est.set_params(verbose=0)
    return FaceModel(
        est,
        _names(est.classes_, path),
        int(est.image_size or est.image_shape_[0]),
        dict(est.metadata_.get("face_stage") or {"detector": "none"}),
        str(path),
        "deep",
    )


def _onnx_checked(path: Path) -> None:
    """A ConfigError, in one line, for an ONNX file that is cut short or damaged, or that ferbench did not
    export (a model zoo's: no 'classes' in its metadata, another input than uint8 crops 'images' (N, S, S))."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(proto)
    except (DecodeError, onnx.checker.ValidationError, OSError, ValueError) as exc:
        raise ConfigError(
            f"{path} is not a complete ONNX model ({type(exc).__name__}): it is truncated, damaged or another kind "
            "of file; copy it again, or export it again"
        ) from None
    meta = {p.key: p.value for p in proto.metadata_props}
    initialised = {t.name for t in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initialised]
    shape = [inputs[0].type.tensor_type.shape.dim] if len(inputs) == 1 else []
    takes_crops = (
        len(inputs) == 1
        and inputs[0].name == "images"
        and inputs[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
        and len(shape[0]) == 3
    )
    if "classes" not in meta or not takes_crops:
        given = ", ".join(
            f"'{i.name}' {onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type).name} "
            f"({', '.join(d.dim_param or str(d.dim_value) for d in i.type.tensor_type.shape.dim)})"
            for i in inputs
        )
        lacks = "has no 'classes' in its metadata" if "classes" not in meta else "takes other inputs"
        raise ConfigError(
            f"{path} is not an ONNX export of ferbench: it {lacks} (its inputs: {given or 'none'}); ferbench needs "
            "the classes and face stage its exports carry, and uint8 face crops (N, S, S) as input 'images': export "
            "a ferbench CNN with deep.export.export_onnx, or name its .pt checkpoint"
        )
    try:
        json.loads(meta["classes"])
        json.loads(meta.get("image_size", "null"))
        json.loads(meta.get("metadata", "{}"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} has damaged ferbench metadata (not JSON: {exc}); export it again") from None


def _from_onnx(path: Path) -> FaceModel:
    from onnxruntime.capi import onnxruntime_pybind11_state as runtime

    from deep.export import OnnxClassifier

    _onnx_checked(path)
    try:
        est = OnnxClassifier(path)
    except (runtime.Fail, runtime.InvalidArgument, runtime.InvalidGraph, runtime.NotImplemented) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{path} cannot be run on this machine ({first}); export it again with this ferbench"
        ) from None
    return FaceModel(
        est,
        _names(est.classes_, path),
        int(est.input_size),
        dict(est.metadata_.get("face_stage") or {"detector": "none"}),
        str(path),
        "deep",
    )


#: what a .skops file of ferbench holds besides the estimator (`save_model`)
SKOPS_KEYS = ("classes", "input_size", "face_stage")


def _from_skops(path: Path) -> FaceModel:
    import skops.io as sio

    not_ours = (
        f"{path} is not a model saved by ferbench (a run's save_model=true, or "
        "benchmark.inference.models.save_model): save the model with it"
    )
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except (KeyError, ValueError, TypeError, AttributeError, OSError, EOFError) as exc:  # a zip, but not skops'
        raise ConfigError(f"{not_ours} ({type(exc).__name__})") from None
    foreign = [t for t in untrusted if not t.startswith(OWN_PACKAGES)]
    if foreign:
        raise ConfigError(
            f"{path} holds types that are neither scikit-learn's nor ferbench's ({', '.join(foreign)}), which "
            "ferbench does not load (loading them could run any code): save the model with ferbench (save_model=true)"
        )
    try:
        saved = sio.load(path, trusted=untrusted)
    except (ImportError, AttributeError) as exc:  # a type of another version of ferbench or scikit-learn
        raise ConfigError(
            f"{path} holds a type this installation does not have ({exc}): save the model again with this "
            "ferbench, or install the versions its run record lists"
        ) from None
    except (KeyError, ValueError, TypeError, OSError, EOFError) as exc:
        raise ConfigError(f"{not_ours} ({type(exc).__name__})") from None
    if not isinstance(saved, dict) or "estimator" not in saved or any(k not in saved for k in SKOPS_KEYS):
        raise ConfigError(not_ours)
    est = saved["estimator"]
    try:
        size = check.number("input_size", saved["input_size"], 1, integer=True)
    except ConfigError:
        size = None
    if size is None or not isinstance(saved["face_stage"], dict):
        raise ConfigError(f"{not_ours} (its input size or face stage is missing)")
    return FaceModel(
        est,
        _names(saved["classes"], path),
        size,
        dict(saved["face_stage"]),
        str(path),
        saved.get("family", "classical"),
        calibrated=hasattr(est, "predict_proba"),
    )


def _from_record(path: Path, fold: str | None, tta: str | None) -> FaceModel:
    record = _record_of(path)
    saved, gone = record.get("models") or {}, []
    if not saved:  # older CNN records: the model.pt their run_dir got
        saved = {
            f["name"]: str(Path(f["fit_details"]["run_dir"]) / "model.pt")
            for f in record.get("folds", [])
            if (f.get("fit_details") or {}).get("run_dir")
        }
        gone = [p for p in saved.values() if find_file(p) is None]
        saved = {name: p for name, p in saved.items() if p not in gone}
    if not saved and gone:
        raise ConfigError(
            f"{path}: its run wrote {', '.join(gone)}, which is not here; load a model file instead "
            "(committed ones: results/models/<data set>__<model>/fit-<n>/model.pt)"
        )
    if not saved:
        command = " ".join(
            w
            for w in record.get("env", {}).get("command", "").split()
            if not w.startswith(("results_dir=", "cache_dir=", "data_root=", "models_dir="))
        )
        raise ConfigError(f"{path}: this run saved no model; run its command again with save_model=true ({command})")
    if fold is None and len(saved) > 1:
        raise ConfigError(f"{path} has a model per fold; name one: {path}:<fold>, <fold> one of {', '.join(saved)}")
    name = fold if fold is not None else next(iter(saved))
    if name not in saved:
        raise ConfigError(f"{path} has no model for fold '{name}'; its folds: {', '.join(saved)}")
    model_path = Path(saved[name])
    if not model_path.is_absolute():
        model_path = path.parent / model_path if (path.parent / model_path).exists() else model_path
    model = load_model(model_path, tta)
    if model.face_stage.get("detector", "none") == "none" and record.get("detector") not in (None, "none"):
        model.face_stage = face_stage(record["detector"], record["config"]["detector"])
    model.details["record"] = str(path)
    return model


def averaged(models: list[FaceModel]) -> FaceModel:
    """One `FaceModel` of several: their estimators' `core.composites.Average`, cropping as the first, the
    members kept in `details["members"]`; they must take the same crops and give probabilities (an SVM's
    decision values are not averaged)."""
    if not models:
        raise ConfigError("an average of models needs at least one model, got an empty list", "model")
    sizes = {m.input_size for m in models}
    if len(sizes) != 1:
        raise ConfigError(f"an average of models needs one input size, got {sorted(sizes)}", "model")
    if not all(m.calibrated for m in models):
        raise ConfigError("an average of models needs probabilities; an SVM gives decision values", "model")
    estimator = Average([m.estimator for m in models])
    return FaceModel(
        estimator,
        _names(estimator.classes_),
        sizes.pop(),
        dict(models[0].face_stage),
        models[0].source,
        "deep" if all(m.family == "deep" for m in models) else "classical",
        details={"members": models},
    )


def logit_adjusted(model: FaceModel, class_prior: dict, tau: float) -> FaceModel:
    """`model` with its probabilities logit-adjusted (`core.composites.LogitAdjust`): `class_prior` maps each
    of its classes, and no other, to its frequency among the labels it was trained on (positive numbers;
    renormalised to sum to 1), `tau` is 0-10. Raises ConfigError (key logit_adjust.<what>) for a model
    without probabilities (an SVM's decision values) or adjusted already, a class_prior that is not
    such a mapping, or a tau out of range."""
    tau = check.number("logit_adjust.tau", tau, 0, 10)
    if not model.calibrated:
        raise ConfigError(f"logit adjustment divides probabilities; {model.name} gives decision values", "logit_adjust")
    if any(isinstance(c, LogitAdjust) for c in _composites(model.estimator)):
        raise ConfigError(f"{model.name} is logit-adjusted already", "logit_adjust")
    if not isinstance(class_prior, dict) or set(class_prior) != set(model.classes):
        raise ConfigError(
            f"must map each class of {model.name} ({', '.join(model.classes)}) to its training "
            f"frequency, got {class_prior!r}",
            "logit_adjust.class_prior",
        )
    prior = np.array(
        [check.number(f"logit_adjust.class_prior.{c}", class_prior[c], 0, low_open=True) for c in model.classes],
        np.float64,
    )
    return dataclasses.replace(
        model, estimator=LogitAdjust(model.estimator, prior / prior.sum(), tau), details=dict(model.details)
    )


def _composites(estimator) -> list:
    """`estimator` and the composites inside it, outermost first (none: an empty list)."""
    if not isinstance(estimator, Composite):
        return []
    return [estimator] + [c for part in estimator.parts() for c in _composites(part)]


def prior_of(record: str | Path) -> dict:
    """The class frequencies a `method=pretrained +method.logit_adjust=...` run counted on its training
    labels (its record's fit_info `class_prior`, class name -> frequency). Raises ConfigError for a
    record without them."""
    folds = read_record(record).get("folds") or [{}]
    prior = (folds[0].get("fit_details") or {}).get("class_prior")
    if not prior:
        raise ConfigError(
            f"{record} holds no class_prior: it is not the record of a logit-adjusted method=pretrained run",
            "logit_adjust",
        )
    return prior


def face_stage(detector: str, params: dict) -> dict:
    """The face stage a model carries: the detector's name and its config values (paths left out)."""
    return {"detector": detector, **{k: v for k, v in params.items() if k not in ("_target_", "cache_dir")}}


def save_model(estimator, path: str | Path, metadata: dict) -> Path:
    """Save a fitted estimator with `metadata` (face_stage, input_size, family): a CNNClassifier as its
    checkpoint (`path` + ".pt"), anything else with skops (`path` + ".skops"). Written atomically."""
    from deep.estimator import CNNClassifier

    path = Path(path)
    if isinstance(estimator, CNNClassifier):
        return estimator.save(path.with_suffix(".pt"), metadata=metadata)
    if not hasattr(estimator, "predict_proba") and not hasattr(estimator, "decision_function"):
        raise ConfigError(
            f"{type(estimator).__name__} has neither predict_proba nor decision_function: "
            "the applications could not score faces with it"
        )
    import skops.io as sio

    payload = sio.dumps({"estimator": estimator, "classes": [int(c) for c in estimator.classes_], **metadata})
    return write_atomic(path.with_suffix(".skops"), lambda f: f.write(payload), binary=True)
