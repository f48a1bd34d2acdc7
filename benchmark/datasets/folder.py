"""Any folder of labelled face images (`dataset=folder dataset.root=DIR`): how users bring KDEF, RAF-DB,
AffectNet exports or their own collections.

Layout: `<root>/<class>/<image>`, or the same under split folders `<root>/<split>/<class>/<image>`
with splits train, val (or valid, validation) and test. Class folders are mapped to ferbench's
labels by name, in the spellings data sets use (anger/angry, happiness/happy, sadness/sad,
surprised, fearful, disgusted, neutral, contempt, ...; case and separators ignored), or by
`classes` ({folder name: label}, e.g. {"0": angry, "1": disgust} for numbered folders), which is
looked at first. A folder that maps to no label is an error that lists what was found and how to
map it. With `subject_pattern` (a regular expression whose first group is the subject, searched in
the file name) subject protocols work; with split folders `protocol=official` does (train, val for
selection, test reported). Images of any size are read; use a detector (as for JAFFE) or
`detector.size` to get one size.
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmark.datasets.base import DatasetLoader, image_files
from core.errors import ConfigError, DataError
from core.labels import CODE

#: spellings of each label (lower case, letters only) found in data sets' folder names
SYNONYMS = {
    "angry": ("angry", "anger", "an", "ang", "mad"),
    "disgust": ("disgust", "disgusted", "disgusting", "di", "dis"),
    "fear": ("fear", "fearful", "afraid", "scared", "fe", "fea"),
    "happy": ("happy", "happiness", "joy", "smile", "smiling", "ha", "hap"),
    "sad": ("sad", "sadness", "unhappy", "sa"),
    "surprise": ("surprise", "surprised", "su", "sur"),
    "neutral": ("neutral", "neutrality", "calm", "ne", "neu"),
    "contempt": ("contempt", "contemptuous", "co"),
}
SPELLINGS = {spelling: label for label, spellings in SYNONYMS.items() for spelling in spellings}
#: split folder names -> the official split names the protocols use
SPLITS = {
    "train": "Training",
    "training": "Training",
    "val": "PublicTest",
    "valid": "PublicTest",
    "validation": "PublicTest",
    "test": "PrivateTest",
    "testing": "PrivateTest",
}


def normalised(name: str) -> str:
    """A class folder's name reduced to its lower-case letters, for matching spellings."""
    return re.sub(r"[^a-z]", "", name.lower())


class ImageFolder(DatasetLoader):
    """A folder of one's own: <class>/<image>, optionally under train/ val/ test/ (see the module docstring)."""

    name = "folder"
    source_hint = "Give the folder with dataset.root=DIR: <class>/<image> folders, optionally under train/ val/ test/."

    def __init__(
        self,
        root: str | Path,
        classes: dict | None = None,
        subject_pattern: str | None = None,
        name: str = "folder",
        on_bad_image: str = "raise",
    ):
        super().__init__(root, on_bad_image)
        self.name = str(name)
        self.classes = {str(k): str(v) for k, v in (classes or {}).items()}
        unknown = sorted(set(self.classes.values()) - set(CODE))
        if unknown:
            raise ConfigError(f"maps to unknown labels {unknown}; the labels are {', '.join(CODE)}", "classes")
        try:
            self.subject_pattern = None if subject_pattern is None else re.compile(subject_pattern)
        except re.error as exc:
            raise ConfigError(f"is not a regular expression ({exc})", "subject_pattern") from None
        if self.subject_pattern is not None and self.subject_pattern.groups < 1:
            raise ConfigError("needs a group (...) around the subject id", "subject_pattern")

    @property
    def has_subjects(self) -> bool:
        return self.subject_pattern is not None

    @property
    def has_official_split(self) -> bool:
        return self._split_folders() is not None

    def _split_folders(self) -> dict[str, Path] | None:
        if not self.root.is_dir():
            return None
        found = {SPLITS[p.name.lower()]: p for p in self.root.iterdir() if p.is_dir() and p.name.lower() in SPLITS}
        return found if {"Training", "PrivateTest"} <= set(found) else None

    def label(self, folder: str) -> str | None:
        """The label of a class folder: `classes` first, then the known spellings."""
        return self.classes.get(folder) or SPELLINGS.get(normalised(folder))

    def _load(self):
        if not self.root.is_dir():
            raise self.missing("  <class>/<image> folders, or train/ val/ test/ each holding them")
        splits = self._split_folders() or {None: self.root}
        folders = {(split, d.name): d for split, top in splits.items() for d in sorted(top.iterdir()) if d.is_dir()}
        if not folders:
            raise self.missing("  <class>/<image> folders, or train/ val/ test/ each holding them")
        unmapped = sorted({name for _, name in folders if self.label(name) is None})
        if unmapped:
            raise DataError(
                f"{self.name}: class folders {unmapped} under {self.root} map to no label. Known "
                f"spellings: {', '.join(sorted(SPELLINGS))}; map others with dataset.classes, e.g. "
                f"dataset.classes='{{{unmapped[0]}: happy}}' (labels: {', '.join(CODE)})"
            )
        items = []
        for (split, name), folder in folders.items():
            for path in image_files(folder):
                subject = None
                if self.subject_pattern is not None:
                    found = self.subject_pattern.search(path.name)
                    if found is None:
                        self.bad(
                            self.rel(path),
                            "no subject id in the file name",
                            f"subject_pattern {self.subject_pattern.pattern!r}",
                        )
                        continue
                    subject = found[1]
                items.append((path, CODE[self.label(name)], subject, split))
        return self.read_all(items, None)
