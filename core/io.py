"""Files: atomic writes, shipped files found from any folder, and content digests.

Atomic writes: a file holds either its old content (or nothing) or the whole new content.

The content goes to a temporary file in the same folder, is flushed to disk, and is renamed over
the target (`os.replace`, atomic on POSIX and Windows), so a crash, a Ctrl-C or two processes
writing at once never leave a half-written file under the final name.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path


def write_atomic(path: str | os.PathLike, write: Callable, binary: bool = False) -> Path:
    """Call `write(f)` on a temporary file opened for writing (text, UTF-8, or `binary`), then move
    it to `path` (its folder is created). On any exception nothing is left behind. Returns `path`.
    The file gets the modes of any new file (0666 less the umask: 0644 usually), as `open` gives."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:  # O_EXCL: a name no other writer holds; the kernel applies the umask to 0o666
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
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


#: the folder of the files ferbench ships besides its code (conf/, results/models/shipped.yaml, the shipped model
#: and the records its manifest cites), laid out as in the repository: the repository's root in a checkout
#: (an editable install, the tests), the copy a wheel carries (benchmark/_assets, setup.py) once installed
_WHEEL_ASSETS = Path(__file__).resolve().parent.parent / "benchmark" / "_assets"
SHIPPED_ROOT = _WHEEL_ASSETS if (_WHEEL_ASSETS / "conf").is_dir() else Path(__file__).resolve().parent.parent
CONF_DIR = SHIPPED_ROOT / "conf"


def find_file(path: str | os.PathLike) -> Path | None:
    """`path` as given when it exists, else relative to `SHIPPED_ROOT` when it exists there, else
    None: a relative path that names a shipped file (results/models/...) works from any working folder."""
    given = Path(path).expanduser()
    for candidate in (given, SHIPPED_ROOT / given):
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
