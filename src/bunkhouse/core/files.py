"""Files of the instance only its owner may read: the instance folder and the runs folder are
0700, the SQLite database, its WAL and lock files 0600. Made so, and tightened when they
already exist looser (an instance folder made by hand, or by an older version)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """The folder, made 0700 if missing (its missing parents with it), else tightened to 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """The file, made empty and 0600 if missing (never readable by others, not for a moment),
    else tightened to 0600. Its content is left as it is."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    _tighten(path, FILE_MODE)
    return path


def tighten_file(path: Path) -> None:
    """Make an existing file 0600; a missing one is left missing."""
    try:
        _tighten(path, FILE_MODE)
    except FileNotFoundError:
        pass


def open_private(path: Path, flags: int = os.O_RDWR | os.O_CREAT):
    """os.open for a file only its owner may read: made 0600, tightened if it was not."""
    fd = os.open(path, flags, FILE_MODE)
    if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
        os.fchmod(fd, FILE_MODE)
    return fd


def _tighten(path: Path, mode: int) -> None:
    if stat.S_IMODE(path.stat().st_mode) != mode:
        path.chmod(mode)
