"""What the wheel carries besides the code: conf/ and the model results/models/shipped.yaml names (its file, its
manifest and the records the manifest cites), as package data of `benchmark._assets`, laid out as in the repository
(core.io.SHIPPED_ROOT finds them there once installed). The files are read from the manifest, so that replacing the
shipped model means editing that file and nothing else. The rest of the project's metadata is in pyproject.toml.
"""

import os
from pathlib import Path

import yaml
from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
MANIFEST = Path("results/models/shipped.yaml")


def shipped_files() -> list[str]:
    """The shipped model's files, relative to results/: the manifest, every model file it names and the run
    records it cites (how the model was trained; the class frequencies of its logit adjustment)."""
    manifest = yaml.safe_load((ROOT / MANIFEST).read_text(encoding="utf-8"))
    models = manifest["model"] if isinstance(manifest["model"], list) else [manifest["model"]]
    cited = [*models, manifest.get("record"), (manifest.get("logit_adjust") or {}).get("record")]
    files = [MANIFEST] + [Path(os.path.normpath(MANIFEST.parent / c)) for c in cited if c]
    missing = [str(f) for f in files if not (ROOT / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{MANIFEST} names files that are not there: {', '.join(missing)}")
    return [f.relative_to("results").as_posix() for f in files]


setup(
    packages=[
        *find_packages(include=["benchmark*", "features*", "deep*", "core*"]),
        "benchmark._assets.conf",
        "benchmark._assets.results",
    ],
    package_dir={"benchmark._assets.conf": "conf", "benchmark._assets.results": "results"},
    package_data={
        "benchmark": ["web/*"],
        "benchmark._assets.conf": ["**/*.yaml"],
        "benchmark._assets.results": shipped_files(),
    },
)
