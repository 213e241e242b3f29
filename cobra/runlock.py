"""One `cobra run` at a time per database: an advisory lock on a file.

The lock is the operating system's (``flock``): it is released when the
process ends, however it ends, so a run killed halfway leaves no lock for
the next one to trip on. The file also says who holds it, for the message
the second run prints, and whether the last run got to its end: a run that
finds its predecessor's line without "ended" knows that one was killed (or
lost its machine) halfway, and says so. POSIX only; on other systems runs
are not locked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from cobra.errors import AlreadyRunning


@contextmanager
def exclusive(path: Path) -> Iterator[str | None]:
    """Hold the lock at *path* for the duration; AlreadyRunning if taken.

    Yields the line of the previous run when that run never reached its end
    ("pid 4242, started 2026-12-07T09:00:00+00:00"), else None. The file
    reads "pid N, started T, running" while a run works, and "..., ended E"
    once it is done.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield None
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            raise AlreadyRunning(
                f"another cobra run is working on this database ({holder or 'unknown'});"
                " this one did nothing. Try again when it has finished"
            ) from None
        previous = _read(fd)
        line = f"pid {os.getpid()}, started {_now()}"
        _write(fd, f"{line}, running")
        # Python's own ends (success, an error, Ctrl-C) all pass here; a
        # SIGKILL or a power cut does not, and leaves the line "running". A
        # line without either word was written by a cobra from before this
        # record was kept, and says nothing of how that run ended.
        try:
            yield (
                previous.removesuffix(", running")
                if previous.endswith(", running")
                else None
            )
        finally:
            # A full disk must not hide how the run itself ended; the next
            # run would only warn about this one for nothing.
            with contextlib.suppress(OSError):
                _write(fd, f"{line}, ended {_now()}")
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _read(fd: int) -> str:
    return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()


def _write(fd: int, line: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, line.encode(), 0)
