"""Where cobra keeps its files by default.

``COBRA_HOME`` overrides both the user config and the user data directory
(tests and portable installs use it); otherwise platformdirs gives the
platform's conventional places (``~/.config/cobra``, ``~/.local/share/cobra``
on Linux).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

APP_NAME = "cobra"
CONFIG_FILENAME = "cobra.toml"
DATABASE_FILENAME = "cobra.sqlite"

# The last place looked at for a config file. A module attribute rather than a
# literal in the search so tests can point it somewhere harmless.
SYSTEM_CONFIG = Path("/etc/cobra") / CONFIG_FILENAME


def _home_override() -> Path | None:
    home = os.environ.get("COBRA_HOME")
    return Path(home).expanduser() if home else None


def user_config_dir() -> Path:
    """The folder holding the user's own ``cobra.toml``."""
    override = _home_override()
    if override:
        return override
    import platformdirs

    return platformdirs.user_config_path(APP_NAME)


def user_data_dir() -> Path:
    """The folder holding the default database and other working files."""
    override = _home_override()
    if override:
        return override
    import platformdirs

    return platformdirs.user_data_path(APP_NAME)


def default_database_path() -> Path:
    return user_data_dir() / DATABASE_FILENAME


def make_private_folders(folder: Path) -> None:
    """Create *folder* and any missing parent, each readable by its owner
    only (``mkdir(parents=True)`` would give the parents the default mode).
    Raises OSError."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for part in reversed(missing):
        part.mkdir(mode=0o700, exist_ok=True)


def create_private_file(path: Path) -> None:
    """Create *path* empty, readable by its owner only, for files that hold
    personal data. A file that exists is left as it is, mode included:
    whoever made it chose it. Raises OSError."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def check_folder(path: Path) -> None:
    """Refuse to write *path* when its folder does not exist, before any work
    is done: a typo in ``--out`` or ``--rejects`` must not cost a whole
    report or import."""
    from cobra.errors import CobraInputError

    if not path.parent.is_dir():
        raise CobraInputError(
            f"cannot write {path}: the folder {path.parent} does not exist"
        )


@contextlib.contextmanager
def private_output(path: Path) -> Iterator[TextIO]:
    """A text stream whose content replaces *path* when the block ends, for
    files that hold personal data (reports, rejected records).

    The text goes to ``PATH.partial`` first, renamed over *path* at the end,
    so a reader (a web server, a mail job) never sees half a file, and a
    block that fails leaves *path* as it was. A new file is readable by its
    owner only; a file that exists keeps its mode, as with
    :func:`create_private_file`. Lines end as written. Raises OSError.

    A symbolic link is followed: the file it points to is replaced, not the
    link. A path that is no regular file (``/dev/stdout``, a named pipe) is
    written in place, as it is: there is no file to swap, and its reader
    decides what it keeps.
    """
    path = Path(os.path.realpath(path))
    try:
        status = path.stat()
    except FileNotFoundError:
        status = None
    if status is not None and not stat.S_ISREG(status.st_mode):
        with open(path, "w", encoding="utf-8", newline="") as stream:
            yield stream
        return
    mode = stat.S_IMODE(status.st_mode) if status else 0o600
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            yield stream
        if mode != 0o600:
            os.chmod(partial, mode)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
