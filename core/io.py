"""Files: atomic writes, checks before writing, shipped files found from any folder, content digests.

Atomic writes: a file holds either its old content (or nothing) or the whole new content.
The content goes to a temporary file in the same folder (`temporary_path`), is flushed to disk, and
is renamed over the target (`os.replace`, atomic on POSIX and Windows), so a crash, a Ctrl-C, a full
disk or two processes writing at once never leave a half-written file under the final name.
`write_atomic` does this for content written to a file object, `atomic_path` for a writer that wants
a path (a video writer, `np.save`, ...).

A temporary's name says which process on which machine writes it,
`.<name>.<host>-<pid>.<random>.tmp<suffix>` (e.g. `.clip.mp4.3f9a1c-4242.0b1c2d3e.tmp.mp4`; host: 6 hex
digits of the machine's name; the target's suffix is kept, as video writers choose the container by it),
so that `remove_stale_temporaries` can remove those a killed process left behind, and no other.

Before long work: `check_writable(folder, need_bytes)` fails at once, with a one-line `OutputError`,
when the folder cannot be created or written or its disk lacks the space, instead of after the work.
`display_name` turns any file name (one holding bytes that are not UTF-8 included) into text that
can be printed and written to a UTF-8 file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

from core.errors import OutputError

#: free space `check_writable` asks for by default: a margin for records, summaries and small pictures
MIN_FREE_BYTES = 64 << 20
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "surrogateescape")).hexdigest()[:6]
_TEMPORARY = re.compile(
    r"^\.(?P<name>.+)\.(?P<host>[0-9a-f]{6})-(?P<pid>[0-9]+)\.[0-9a-f]{8}\.tmp(?P<suffix>\.[^.]*)?$", re.S
)


def temporary_path(path: str | os.PathLike) -> Path:
    """A name for a temporary file beside `path` (same folder, so renaming it onto `path` is atomic),
    no file of that name existing now: `.<name>.<host>-<pid>.<random>.tmp<suffix>`. The file is not
    created; a writer that needs the name reserved creates it with O_EXCL (as `write_atomic` does)."""
    path = Path(path)
    while True:
        tmp = path.with_name(f".{path.name}.{_HOST}-{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")
        if not os.path.lexists(tmp):
            return tmp


def write_atomic(path: str | os.PathLike, write: Callable, binary: bool = False) -> Path:
    """Call `write(f)` on a temporary file opened for writing (text, UTF-8, or `binary`), then move
    it to `path` (its folder is created), replacing any file there. On any exception (a full disk:
    `OSError` ENOSPC) nothing is left behind and the old file, if any, is untouched. Returns `path`.
    The file gets the modes of any new file (0666 less the umask: 0644 usually), as `open` gives."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:  # O_EXCL: a name no other writer holds; the kernel applies the umask to 0o666
        tmp = temporary_path(path)
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
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """`with atomic_path(out) as tmp: write to tmp` for writers that take a path (a video writer): the
    block writes the whole file at `tmp` (a `temporary_path` beside `path`, its folder created), which
    is then flushed to disk and renamed onto `path`, replacing any file there. When the block raises,
    or leaves no file at `tmp`, `tmp` is removed and `path` is untouched (no half-written output under
    the final name). The writer must have closed the file when the block ends. Raises what the block
    raises, and `OSError` from the final flush or rename (a full disk: ENOSPC)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        yield tmp
        if tmp.exists():
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def temporary_owner(path: str | os.PathLike) -> tuple[str, int] | None:
    """(host tag, pid) of the process that writes the temporary file `path`, from its name; None when
    `path` is not named as `temporary_path` names temporaries."""
    match = _TEMPORARY.match(Path(path).name)
    return None if match is None else (match["host"], int(match["pid"]))


def remove_stale_temporaries(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Remove the temporary files (named by `temporary_path`) in `folder` (and its subfolders when
    `recursive`) whose writer, a process of this machine, is no longer alive: what a process killed
    while writing left. Temporaries of live processes and of other machines (a shared folder) stay;
    other files are never touched. A missing folder is no error. Returns the paths removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for tmp in folder.rglob(".*.tmp*") if recursive else folder.glob(".*.tmp*"):
        owner = temporary_owner(tmp)
        if owner is None or owner[0] != _HOST or owner[1] == os.getpid() or pid_alive(owner[1]):
            continue
        with contextlib.suppress(FileNotFoundError):  # another process removed it first
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink()
                removed.append(tmp)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with id `pid` runs on this machine (one of another user counts)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would end the process on Windows
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() != 87  # ERROR_INVALID_PARAMETER: no such process
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def check_writable(folder: str | os.PathLike, need_bytes: int = MIN_FREE_BYTES, key: str | None = None) -> Path:
    """Make sure files can be written in `folder` before any work whose results go there, so that a
    read-only, misnamed or full output folder fails in a second instead of after the work.

    A probe file is created and removed in `folder`, or, when `folder` does not exist yet, in its
    nearest existing parent (where the folder will be created; nothing is created here): that is
    what tells a read-only mount or a folder of another user apart, which `os.access` does not. The
    disk holding it must have `need_bytes` (bytes) free. `key` names the setting that chose the
    folder (e.g. "results_dir"), for the message. Returns `folder` as a Path. Raises `OutputError`
    (one line: which folder, why, what to do) otherwise. Stale temporaries are not looked at: call
    `remove_stale_temporaries` where the outputs are written."""
    folder = Path(folder)
    where = f"{key}={folder}" if key else str(folder)
    fix = f"give {key}= a folder you can write to" if key else "choose a folder you can write to"
    existing = folder
    while not existing.exists() and existing.parent != existing:
        if os.path.lexists(existing):  # a dangling link: the folder cannot be created under that name
            raise OutputError(f"{where}: {existing} is a broken link; {fix}")
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file, not a folder" if existing == folder else f"cannot be created: {existing} is a file"
        raise OutputError(f"{where}: {what}; {fix}")
    try:
        probe = temporary_path(existing / "write-check")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except PermissionError:
        raise OutputError(f"{where}: no permission to write in {existing}; {fix}") from None
    except OSError as exc:
        reason = {errno.ENOSPC: "the disk is full", errno.EROFS: "a read-only file system"}.get(exc.errno)
        raise OutputError(f"{where}: cannot write in {existing} ({reason or exc.strerror or exc}); {fix}") from None
    free = shutil.disk_usage(existing).free
    if free < need_bytes:
        raise OutputError(
            f"{where}: only {_size(free)} free on its disk, and this needs about {_size(need_bytes)}; "
            f"free some space or {fix}"
        )
    return folder


def _size(n: float) -> str:
    unit = "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            break
        n /= 1024
    return f"{int(n)} bytes" if unit == "bytes" else f"{n:.1f} {unit}"


def display_name(name: str | os.PathLike) -> str:
    """`name` (a path, or a text holding one, such as an error message) as text that any UTF-8 output
    takes: a byte of the file name that is not UTF-8 (held by Python as a lone surrogate, e.g.
    b"\\xff.jpg" read as "\\udcff.jpg") is written as the escape `\\xff`, so printing the name or
    writing it to a CSV or JSON file never raises `UnicodeEncodeError`. Other text is unchanged."""
    text = os.fspath(name)
    if isinstance(text, bytes):
        return text.decode("utf-8", "backslashreplace")
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that stands for no byte (a Windows name): escaped as \udXXX
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


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
