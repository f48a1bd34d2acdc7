"""Files: atomic writes, shipped files found from any folder, and content digests.

Atomic writes: a file holds either its old content (or nothing) or the whole new content.

The content goes to a temporary file in the same folder, is flushed to disk, and is renamed over
the target (`os.replace`, atomic on POSIX and Windows), so a crash, a Ctrl-C or two processes
writing at once never leave a half-written file under the final name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: str | os.PathLike, write: Callable, binary: bool = False) -> Path:
    """Call `write(f)` on a temporary file opened for writing (text, UTF-8, or `binary`), then move
    it to `path` (its folder is created). On any exception nothing is left behind. Returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: the repository's root: shipped files (results/models/...) are found relative to it from any folder
REPO_ROOT = Path(__file__).resolve().parent.parent


def find_file(path: str | os.PathLike) -> Path | None:
    """`path` as given when it exists, else relative to the repository root when it exists there, else
    None: a relative path that names a shipped file works from any working folder."""
    given = Path(path).expanduser()
    for candidate in (given, REPO_ROOT / given):
        if candidate.exists():
            return candidate
    return None


def sha256(path: str | os.PathLike) -> str:
    """SHA-256 of the file at `path` as 64 hex digits, read in 1 MiB blocks: what a run record names
    a model file by, so that a file replaced under the same name is told apart. Raises `OSError`
    (e.g. `FileNotFoundError`) when the file cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
