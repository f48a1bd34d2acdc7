"""The cross-data-set protocol (`protocol=cross`): fit on one data set, test on others never seen.

The source is the run's data set (`dataset=...`, with its detector): the method is fitted on its
training part (FER2013's and FER+'s Training, with PublicTest for selection; all of a data set
without an official split, selection on inner splits of it as usual), every class of it, and tested
on every image of each target (`protocol.targets`) whose class the source has: a target's images of
other classes (CK+'s contempt for a FER2013 model) are excluded and counted in the record, which
lists each target's classes. The method may still answer a class the target lacks (neutral, which
CK+48 has none of): that is part of not having seen the target. FER2013 and FER+ hold the same
images, so between those two only the target's official test split (PrivateTest) is tested on. The
same holds for the data set a method's starting model learned from (`method.init_checkpoint` of a
fine-tuned CNN, `method.model` of a pretrained one: `learned_from`): a CK+48 model fine-tuned from the
FER2013 model is tested on FER2013's and FER+'s PrivateTest only, never on the Training images its
starting point saw. So is a part of a merged source named as a target (`dataset=merged
dataset.parts=[fer2013,jaffe]` tested on fer2013: its PrivateTest, which the merged source never fits
on; a part without an official split leaves nothing to test).

Targets are cut to the source's crops: ready-made crops (FER2013, FER+, CK+48) are resized to the
source's crop size, or, when theirs are smaller, the source's crops are shrunk to the smallest
target's side instead (JAFFE's 96-pixel faces to FER2013's 48: a target enlarged to the source's
size is a blur no model learned from; the fold's `size` says which side was used). Photos (JAFFE, a
folder) are detected with `protocol.detectors[target]` and cropped with the source's framing (its own
detector settings, or, for a source of ready-made crops, the framing measured to match FER2013's:
results/models/shipped.yaml). A target's images never reach
`fit` or selection: the one fold's training and validation indices are the source's.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from benchmark.datasets.base import Dataset, stack_images
from benchmark.faces.base import FaceDetector
from benchmark.protocols import Fold, Protocol
from core.errors import ConfigError
from core.labels import CLASS_NAMES

#: the data sets `targets: auto` tests on, those present under data_root (the source left out)
BUILT_IN = ("fer2013", "ferplus", "ckplus", "jaffe")
#: data sets made of the same images: between them only the target's official test split is tested on
SAME_IMAGES = {frozenset({"fer2013", "ferplus"})}


#: config keys that name a model file a method starts from (anywhere in the method's config)
STARTING_MODEL_KEYS = ("init_checkpoint", "model")


def learned_from(method_cfg) -> set[str]:
    """The data sets whose images the model files named in a method's config (`STARTING_MODEL_KEYS`:
    a fine-tuned CNN's `init_checkpoint`, a pretrained method's `model`, a list of them) were trained on:
    a run record's data set and its own starting models', or the folder of a committed model file
    (`benchmark.inference.models.model_folder`). Raises ConfigError for a file whose data set cannot be
    told: under this protocol it must be known to keep its training images out of the targets."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    from benchmark.inference.models import SUFFIXES, model_folder, model_suffix, read_record

    if isinstance(method_cfg, (DictConfig, ListConfig)):
        method_cfg = OmegaConf.to_container(method_cfg, resolve=True)
    found: set[str] = set()

    def visit(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                visit(v, k)
        elif isinstance(node, (list, tuple)):
            for v in node:
                visit(v, key)
        elif key in STARTING_MODEL_KEYS and isinstance(node, str) and (suffix := model_suffix(node)) in SUFFIXES:
            if suffix == ".json":  # a run record: its data set (a merged one's parts), what its model started from
                record = read_record(node)
                found.add(str(record["dataset"]))
                found.update(str(p) for p in record["config"].get("dataset", {}).get("parts", ()))
                found.update(learned_from(record["config"]["method"]))
            elif (folder := model_folder(node)) is not None and folder[0] != "merged":
                found.add(folder[0])
            elif folder is not None:  # merged: its parts are in its record, not its folder's name
                raise ConfigError(
                    f"names {node}, a model of merged data sets: under protocol=cross name its run record "
                    "(.json), which lists the parts, so that their images stay out of the targets",
                    f"method.{key}",
                )
            else:
                how = "its run record (.json) or " if key == "model" else ""
                raise ConfigError(
                    f"names {node}, and the data set it was trained on is unknown: under protocol=cross "
                    f"a starting model is given as {how}a file in its folder "
                    "results/models/<data set>__<model>/, so that its training images stay out of "
                    "the targets",
                    f"method.{key}",
                )

    visit(method_cfg)
    return found


class CrossDataset(Protocol):
    """targets: names of data sets (conf/dataset/) to test on; detectors: {target: detector name} for
    targets of photos (the others: none)."""

    name = "cross"

    def __init__(self, targets="auto", detectors: dict | None = None, data_root: str = "data"):
        self.data_root = str(data_root)
        names = BUILT_IN if targets == "auto" else [targets] if isinstance(targets, str) else targets
        self.targets = [str(t) for t in names]
        self.auto = targets == "auto"
        if not self.targets:
            raise ConfigError("must name at least one data set to test on", "targets")
        if len(set(self.targets)) < len(self.targets):
            raise ConfigError(f"names a data set twice: {self.targets}", "targets")
        if "merged" in self.targets:
            raise ConfigError(
                "names merged, whose parts may hold the source's images: name its parts instead", "targets"
            )
        self.detectors = {str(k): str(v) for k, v in (detectors or {}).items()}
        if stray := sorted(set(self.detectors) - set(self.targets) - set(BUILT_IN)):
            raise ConfigError(
                f"names {', '.join(stray)}, neither a target ({', '.join(self.targets)}) nor a built-in data set",
                "detectors",
            )

    def check_loader(self, loader) -> None:
        sources = {loader.name, *getattr(loader, "parts", ())}  # a merged source is each of its parts
        if self.auto:  # every other built-in data set that is there
            from pathlib import Path

            self.targets = [t for t in self.targets if t not in sources and (Path(self.data_root) / t).is_dir()]
            if not self.targets:
                raise ConfigError(f"is auto, and no other data set is under {self.data_root}", "targets")
        elif own := [t for t in self.targets if t == loader.name]:
            raise ConfigError(
                f"names the source, {', '.join(own)}, itself; its own protocols give the within-data-set score",
                "targets",
            )
        self.sources = sources

    # -- the targets' faces, beside the source's ------------------------------------------------
    def prepare(self, faces: Dataset, cfg, source_detector, method) -> Dataset:
        """The source's faces followed by every target's (ids "<target>/<id>", splits "target:<name>"):
        of a target, the images of the classes the source has (the others excluded and counted)."""
        source_classes = set(faces.classes.tolist())
        starts, sources = learned_from(cfg.method), getattr(self, "sources", {faces.name})
        if starts and getattr(method, "fits_nothing", False) and not starts & sources:
            raise ConfigError(
                f"scores a model trained on {', '.join(sorted(starts))} and fits nothing on "
                f"{faces.name}: run it with dataset={min(starts)}, the row it belongs to",
                "method.model",
            )
        seen = self.seen = sources | starts
        loaded = {name: self._load(name, cfg) for name in self.targets}
        self.size = min(
            [
                int(faces.images.shape[1]),
                *(side for name, dataset in loaded.items() if (side := self._crop_side(name, dataset)) is not None),
            ]
        )
        if self.size < faces.images.shape[1]:  # never enlarge a target's crops: shrink the source's
            from benchmark.faces.geometry import resize

            faces = dataclasses.replace(faces, images=np.stack([resize(im, self.size) for im in faces.images]))
        images, labels, ids, excluded, self.report, self.classes = (
            list(faces.images),
            faces.labels.tolist(),
            faces.ids.tolist(),
            dict(faces.excluded),
            {},
            {},
        )
        splits = faces.splits.tolist() if faces.splits is not None else ["source"] * len(faces)
        subjects = faces.subjects.tolist() if faces.subjects is not None else None
        soft = None if faces.soft_labels is None else [faces.soft_labels]  # the source's class distributions
        for name in self.targets:
            part, self.report[name] = self._target_faces(name, loaded[name], cfg, source_detector)
            keep = np.isin(part.labels, sorted(source_classes))
            if any(name == d or frozenset({d, name}) in SAME_IMAGES for d in seen):
                keep &= part.splits == "PrivateTest"  # none for a data set without an official split
            if (~keep).any():
                excluded[f"not a class of {faces.name}, or not tested on ({name})"] = int((~keep).sum())
            index = np.flatnonzero(keep)
            self.classes[name] = [CLASS_NAMES[c] for c in np.unique(part.labels[index])]
            images += list(part.images[index])
            labels += part.labels[index].tolist()
            ids += [f"{name}/{i}" for i in part.ids[index].tolist()]
            splits += [f"target:{name}"] * len(index)
            if subjects is not None:
                subjects += [name] * len(index)
            if soft is not None:  # a target's images are never fitted on: their labels' one-hot
                soft.append(np.eye(faces.soft_labels.shape[1], dtype=np.float32)[part.labels[index]])
        return Dataset(
            faces.name,
            stack_images(images),
            np.asarray(labels),
            np.asarray(ids),
            None if subjects is None else np.asarray(subjects),
            np.asarray(splits),
            list(faces.skipped),
            excluded,
            None if soft is None else np.concatenate(soft),
        )

    @staticmethod
    def _load(name: str, cfg) -> Dataset:
        from benchmark.config import compose_config, instantiate_group

        target_cfg = compose_config([f"dataset={name}", f"data_root={cfg.data_root}", f"cache_dir={cfg.cache_dir}"])
        return instantiate_group(target_cfg, "dataset").load()

    def _crop_side(self, name: str, dataset: Dataset) -> int | None:
        """The side of a target's ready-made square crops; None for photos (detected at any size) and
        for crops of several sizes."""
        images = dataset.images
        if (
            self.detectors.get(name, "none") != "none"
            or images.dtype == object
            or images.ndim != 3
            or images.shape[1] != images.shape[2]
        ):
            return None
        return int(images.shape[1])

    def _target_faces(self, name: str, dataset: Dataset, cfg, source_detector) -> tuple[Dataset, dict]:
        from benchmark.inference.pipeline import build_detector

        size = self.size
        detector = self.detectors.get(name, "none")
        if detector == "none":
            from benchmark.faces import NoDetector

            return NoDetector(size)(dataset)
        if isinstance(source_detector, FaceDetector):  # the source's own framing
            stage = {
                "detector": detector,
                "margin": source_detector.margin,
                "align": source_detector.align,
                **source_detector.preprocess.params(),
            }
        else:  # ready-made source crops: the framing measured to match FER2013's
            from benchmark.inference.models import shipped

            stage = {**shipped()["face_stage"], "detector": detector}
        return build_detector(stage, size, cache_dir=cfg.cache_dir)(dataset)

    def data_fingerprint(self, source: str | None, cfg) -> str | None:
        """The source's fingerprint combined with every target's (a changed target is other data too)."""
        from benchmark.config import compose_config, instantiate_group

        parts = [source or ""]
        for name in self.targets:
            target_cfg = compose_config([f"dataset={name}", f"data_root={cfg.data_root}"])
            parts.append(instantiate_group(target_cfg, "dataset").fingerprint(cfg.get("cache_dir")) or "")
        return hashlib.blake2b("|".join(parts).encode(), digest_size=20).hexdigest()

    # -- the one fold ----------------------------------------------------------------------------
    def folds(self, dataset: Dataset) -> list[Fold]:
        splits = dataset.splits
        source = ~np.char.startswith(splits.astype(str), "target:")
        official = set(splits[source].tolist()) >= {"Training", "PublicTest"}
        train = np.flatnonzero(source & (splits == "Training")) if official else np.flatnonzero(source)
        tests = {t: np.flatnonzero(splits == f"target:{t}") for t in self.targets}
        empty = [t for t, idx in tests.items() if len(idx) == 0]
        if empty:
            raise ConfigError(
                f"leaves no image of {', '.join(empty)} to test on: no class in common with "
                f"{dataset.name}, or only images its model has learned from",
                "targets",
            )
        return [
            Fold(
                "cross",
                train,
                tests,
                primary=self.targets[0],
                val=np.flatnonzero(source & (splits == "PublicTest")) if official else None,
                meta={
                    "source": dataset.name,
                    "learned_from": sorted(self.seen),
                    "size": self.size,
                    "classes": self.classes,
                    "target_faces": self.report,
                },
            )
        ]
