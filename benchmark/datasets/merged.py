"""Several data sets as one (`dataset=merged`): for training on all of them, and, grouped by data set,
for leave-one-data-set-out (`dataset=merged protocol=loso`: each fold holds one data set out).

Each part is loaded with its own loader and cut to face crops of one size: ready-made crops
(FER2013, FER+, CK+48) are resized, photos (JAFFE, a folder) detected with `detectors[part]` and the
`framing` face stage (default: the one measured to match FER2013's crops, results/models/shipped.yaml).
The crops are the data set's images, so a run uses `detector=none`. Ids are "<part>/<id>"; the
subject of an image is its data set's name (`group_by: dataset`) or "<part>/<subject>" (`subject`,
for parts that have subjects; an image of a part without is its own subject). FER2013 and FER+ hold
the same images: they are not merged together.

`options` sets a part's own loader settings (`{ferplus: {train_labels: soft}}`: FER+'s vote
distributions). Where a part has an official split (FER2013, FER+), the merged set keeps it and every
image of the other parts is Training: `protocol=cross` and `protocol=official` then fit on the
Training images of all parts, select on the split part's PublicTest and never fit on its PrivateTest.
Where a part has class distributions (FER+'s votes), the other parts' images get their label's
one-hot distribution.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from benchmark.datasets.base import Dataset, stack_images
from core import validation as check
from core.errors import ConfigError
from core.labels import CLASS_NAMES

SAME_IMAGES = ({"fer2013", "ferplus"},)


class Merged:
    """Several data sets as one (see the module docstring)."""

    name = "merged"
    has_subjects = True

    def __init__(
        self,
        parts,
        data_root: str = "data",
        detectors: dict | None = None,
        size: int = 48,
        framing: dict | None = None,
        group_by: str = "dataset",
        cache_dir: str | None = None,
        options: dict | None = None,
    ):
        self.parts = [str(p) for p in parts]
        if len(self.parts) < 2:
            raise ConfigError(f"must name at least two data sets, got {self.parts}", "parts")
        for pair in SAME_IMAGES:
            if pair <= set(self.parts):
                raise ConfigError(f"names {' and '.join(sorted(pair))}, which hold the same images", "parts")
        self.root = Path(data_root)
        self.detectors = {str(k): str(v) for k, v in (detectors or {}).items()}
        self.size = check.number("size", size, 8, integer=True)
        self.framing = dict(framing or {})
        self.group_by = check.choice("group_by", group_by, ("dataset", "subject"))
        self.cache_dir = cache_dir
        self.options = {str(k): dict(v or {}) for k, v in (options or {}).items()}
        if stray := sorted(set(self.options) - set(self.parts)):
            raise ConfigError(f"names {', '.join(stray)}, not among the parts ({', '.join(self.parts)})", "options")
        self.source_hint = f"the parts ({', '.join(self.parts)}) are read from {self.root}"

    @property
    def has_official_split(self) -> bool:
        """Whether a part has one (FER2013, FER+): see the module docstring."""
        from benchmark.config import instantiate_group

        return any(instantiate_group(self._config(p), "dataset").has_official_split for p in self.parts)

    def _config(self, part: str):
        from omegaconf import OmegaConf, open_dict

        from benchmark.config import compose_config

        cfg = compose_config([f"dataset={part}", f"data_root={self.root}"])
        options = self.options.get(part, {})
        if unknown := sorted(set(options) - set(cfg.dataset)):
            known = ", ".join(k for k in cfg.dataset if k != "_target_")
            raise ConfigError(f"sets {', '.join(unknown)} of {part}, whose loader has {known}", "options")
        with open_dict(cfg):
            cfg.dataset = OmegaConf.merge(cfg.dataset, options)
        return cfg

    def fingerprint(self, cache_dir=None) -> str:
        from benchmark.config import instantiate_group

        parts = [instantiate_group(self._config(p), "dataset").fingerprint(cache_dir) or "" for p in self.parts]
        return hashlib.blake2b("|".join(parts).encode(), digest_size=20).hexdigest()

    def load(self) -> Dataset:
        from benchmark.config import instantiate_group
        from benchmark.faces import NoDetector
        from benchmark.inference.models import shipped
        from benchmark.inference.pipeline import build_detector

        images, labels, ids, subjects, skipped, excluded = [], [], [], [], [], {}
        per_part = []  # (official split or None, class distributions or None, labels) of each part's faces
        for part in self.parts:
            data = instantiate_group(self._config(part), "dataset").load()
            detector = self.detectors.get(part, "none")
            if detector == "none":
                faces, _ = NoDetector(self.size)(data)
            else:
                stage = {**(self.framing or shipped()["face_stage"]), "detector": detector}
                faces, _ = build_detector(stage, self.size, cache_dir=self.cache_dir)(data)
            images += list(faces.images)
            labels += faces.labels.tolist()
            ids += [f"{part}/{i}" for i in faces.ids.tolist()]
            if self.group_by == "dataset":
                subjects += [part] * len(faces)
            else:
                own = faces.subjects if faces.subjects is not None else faces.ids
                subjects += [f"{part}/{s}" for s in own.tolist()]
            per_part.append((faces.splits, faces.soft_labels, faces.labels))
            skipped += [{**s, "id": f"{part}/{s['id']}"} for s in faces.skipped]
            excluded.update({f"{reason} ({part})": n for reason, n in faces.excluded.items()})
        splits = soft = None
        if any(split is not None for split, _, _ in per_part):  # the parts without an official split: all Training
            splits = np.concatenate(
                [split.astype(str) if split is not None else np.full(len(y), "Training") for split, _, y in per_part]
            )
        if any(dist is not None for _, dist, _ in per_part):  # the parts without class distributions: one-hot
            one_hot = np.eye(len(CLASS_NAMES), dtype=np.float32)
            soft = np.concatenate([dist if dist is not None else one_hot[y] for _, dist, y in per_part])
        return Dataset(
            self.name,
            stack_images(images),
            np.asarray(labels),
            np.asarray(ids),
            np.asarray(subjects),
            splits,
            skipped,
            excluded,
            soft,
        )
