"""JAFFE: 213 posed 256x256 grey images of 10 Japanese women, 7 classes, labels from the file names.

Files are `<SUBJECT>.<EXPR><n>.<id>.tiff`, e.g. `KA.AN1.39.tiff`, directly in the root or in a
`jaffe/` subfolder (the layout of the original zip). The 23 KA files are palette TIFFs whose palette
is the identity grey ramp; the base `read_gray` converts them without changing a value.
"""

from __future__ import annotations

import re

from benchmark.datasets.base import DatasetLoader, image_files
from core.labels import ANGRY, DISGUST, FEAR, HAPPY, NEUTRAL, SAD, SURPRISE

SIZE = (256, 256)
EXPRESSIONS = {"AN": ANGRY, "DI": DISGUST, "FE": FEAR, "HA": HAPPY, "NE": NEUTRAL, "SA": SAD, "SU": SURPRISE}
FILE_NAME = re.compile(r"([A-Z]{2})\.([A-Z]{2})\d+\.\d+\.tiff?")
EXPECTED = (
    "  <SUBJECT>.<EXPR><n>.<id>.tiff (e.g. KA.AN1.39.tiff), in the root or in a jaffe/ subfolder;\n"
    f"  EXPR = {' | '.join(EXPRESSIONS)}"
)


class JAFFE(DatasetLoader):
    """JAFFE: 213 photos of 10 subjects, labels from the file names (see the module docstring)."""

    name = "jaffe"
    source_hint = (
        "JAFFE is distributed by its authors (Lyons, Kamachi, Gyoba) for non-commercial research: "
        "https://zenodo.org/record/3451524"
    )
    has_subjects = True

    def _load(self):
        files = image_files(self.root) or image_files(self.root / "jaffe")
        if not files:
            raise self.missing(EXPECTED)
        items = []
        for path in files:
            name = FILE_NAME.fullmatch(path.name)
            if name is None:
                self.bad(self.rel(path), "file name does not match <SUBJECT>.<EXPR><n>.<id>.tiff")
            elif name[2] not in EXPRESSIONS:
                self.bad(
                    self.rel(path), "unknown expression code", f"{name[2]!r}, expected one of {', '.join(EXPRESSIONS)}"
                )
            else:
                items.append((path, EXPRESSIONS[name[2]], name[1], None))
        return self.read_all(items, SIZE)
