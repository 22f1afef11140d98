"""Writing files so that a failure leaves nothing half-written: write to a temporary name, then rename.

Also the checks every command makes on its output path before any work (a file where a folder is
asked for, a folder holding the user's files, the current folder, a place that cannot be written).
"""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, Union

from .errors import RailSegError

PathLike = Union[str, "os.PathLike[str]"]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _cannot_write(path: Path, exc: OSError) -> RailSegError:
    return RailSegError(f"cannot write {path} ({exc.strerror or exc})")


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    Works for files and for directories (a bag, a report folder) alike. The temporary path lies in a
    hidden folder of its own (``.NAME.tmpPID-XXXX/NAME``, made exclusively), so only what this call
    made is ever removed; a folder at ``path`` is moved aside and dropped only once the rename worked.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        reserve = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp{os.getpid()}-", dir=str(final.parent)))
    except OSError as exc:
        raise _cannot_write(final, exc) from None
    tmp = reserve / final.name
    try:
        yield tmp
        aside = None
        if tmp.is_dir() and final.is_dir() and not final.is_symlink():
            aside = reserve / (".old" + final.name)
            os.replace(final, aside)
        try:
            os.replace(tmp, final)
        except OSError as exc:
            if aside is not None:
                os.replace(aside, final)
            raise _cannot_write(final, exc) from None
    finally:
        _remove(reserve)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file."""
    atomic_write_bytes(path, text.encode("utf-8"))


# ---- output targets, checked before any work ---------------------------------------------------------

def check_writable(path: PathLike, what: str) -> None:
    """Raise unless ``path`` could be created: its nearest existing folder is a folder this process can write."""
    target = Path(os.path.abspath(os.path.expanduser(str(path))))
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RailSegError(f"{what} {path}: {ancestor} is a file, not a folder")
    try:  # os.access says yes to root even under /proc and /sys: try it
        os.rmdir(tempfile.mkdtemp(prefix=".rail-seg-probe-", dir=str(ancestor)))
    except OSError as exc:
        raise RailSegError(f"{what} {path}: cannot write in {ancestor} ({exc.strerror or exc})") from None


def _holds_current_folder(path: Path) -> bool:
    resolved, here = path.resolve(), Path.cwd().resolve()
    return resolved == here or resolved in here.parents


def check_output_folder(path: PathLike, what: str = "--out", force: bool = False) -> None:
    """Raise unless ``path`` may become an output folder: absent, empty, or (``force``) a folder to write over.

    A file there, the current folder (or one holding it) and a place that cannot be written are always refused.
    """
    folder = Path(os.path.expanduser(str(path)))
    if folder.exists() and not folder.is_dir():
        raise RailSegError(f"{what} {path}: exists and is a file, not a folder; choose a folder name")
    if folder.is_dir() and _holds_current_folder(folder):
        raise RailSegError(f"{what} {path}: is the current folder (or holds it); name a new folder for the output")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise RailSegError(f"{what} {path}: is a folder that holds files already; choose a new or empty folder, "
                           f"or add --force")
    check_writable(folder, what)


def check_output_file(path: PathLike, what: str = "--out") -> None:
    """Raise unless ``path`` may be written as a file (a folder there, or an unwritable place, is refused)."""
    target = Path(os.path.expanduser(str(path)))
    if target.is_dir():
        raise RailSegError(f"{what} {path}: is a folder; name a file")
    check_writable(target, what)


def writable_folder(path: PathLike, what: str) -> Path:
    """``path`` as a folder this process can write in, created if missing (an engine cache, say)."""
    folder = Path(os.path.expanduser(str(path)))
    if folder.exists() and not folder.is_dir():
        raise RailSegError(f"{what} {path}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".rail-seg-probe-", dir=str(folder)))
    except OSError as exc:
        raise RailSegError(f"{what} {path}: cannot be written ({exc.strerror or exc})") from None
    return folder
