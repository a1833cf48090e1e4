"""Files only the server's own user may read: the data directory, the database, secrets.

The data directory holds every account's documents and transcripts (the SQLite database and
its ``-wal``/``-shm`` files), the generated JWT secret and the demo credentials. Whatever
creates something there uses :func:`make_private_dir` (mode 0700) or
:func:`create_private_file` (0600), so nothing is ever readable by other local users, whatever
the umask. :func:`secure_data_dir` runs at start-up and tightens what an older version (or an
operator's ``cp``) left looser, logging each change.

    make_private_dir(Path("data"))                   # created 0700 (an existing one is kept)
    create_private_file(Path("data/snapagent.db"))   # created empty, 0600, if missing
    secure_data_dir(Path("data"))                    # 0700 dirs / 0600 files below, logged
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "create_private_file",
    "make_private_dir",
    "secure_data_dir",
    "tighten",
]

log = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700; an existing directory is left
    as it is (it may be a shared parent such as ``/srv``; the data directory itself is
    tightened by :func:`secure_data_dir`)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # another worker made it first
            continue
        os.chmod(directory, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then see :func:`tighten`).

    SQLite creates its ``-wal`` and ``-shm`` files with the database file's mode, so creating
    the database file 0600 first keeps all three private."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        tighten(path)
        return
    os.close(fd)


def tighten(path: Path) -> bool:
    """Remove group and other permissions from ``path`` (a 0755 directory becomes 0700, a 0644
    file 0600); True if its mode changed. Symbolic links and other users' files are left alone."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
        return False
    current = stat.S_IMODE(info.st_mode)
    if current & 0o077 == 0:
        return False
    new = current & 0o700  # the owner keeps exactly what it had
    os.chmod(path, new)
    log.warning(
        "tightened permissions of %s from %s to %s (only the server's user may read it)",
        path,
        oct(current),
        oct(new),
    )
    return True


def secure_data_dir(data_dir: Path) -> list[Path]:
    """Tighten ``data_dir`` and everything below it; returns what changed.

    Nothing happens when the directory does not exist (a PostgreSQL deployment with a
    configured secret never creates one). Symbolic links are not followed."""
    if not data_dir.is_dir():
        return []
    changed = [data_dir] if tighten(data_dir) else []
    for root, dirs, files in os.walk(data_dir):
        for name in (*dirs, *files):
            path = Path(root) / name
            if tighten(path):
                changed.append(path)
    return changed
