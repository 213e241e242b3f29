"""One `cobra run` at a time per database: an advisory lock on a file.

The lock is the operating system's (``flock``): it is released when the
process ends, however it ends, so a run killed halfway leaves no lock for
the next one to trip on. The file also says who holds it, for the message
the second run prints. POSIX only; on other systems runs are not locked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from cobra.errors import AlreadyRunning


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the lock at *path* for the duration; AlreadyRunning if taken."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
            raise AlreadyRunning(
                f"another cobra run is working on this database ({holder or 'unknown'});"
                " this one did nothing. Try again when it has finished"
            ) from None
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {started}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
