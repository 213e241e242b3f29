"""Debian packages the tests need, installed with apt-get when they are missing.

The real servers and tools the tests use (Kannel, Dovecot, Chromium,
systemd-analyze) come from Debian's archive. :func:`ensure` installs them on
a root Debian machine, such as CI's, so a clean checkout tests against them
without a separate setup step.

Where installing is impossible (not root, or no apt-get) it raises
:class:`Unavailable`, and the fixture skips saying which command to run: a
developer's own machine. Where it was possible and failed, it raises
:class:`InstallFailed`, an error: a green run must not hide tests that were
meant to run and did not.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence

INSTALL_TIMEOUT = 900  # seconds for one apt-get call; under a minute normally
LOCK_WAIT = 600  # seconds apt-get waits for another apt-get or dpkg to finish
# One install at a time across parallel test processes of this machine.
LOCK_FILE = "/tmp/cobra-tests-apt.lock"


class Unavailable(Exception):
    """Missing, and this machine cannot install it: the tests skip."""


class InstallFailed(RuntimeError):
    """Missing, and installing it was possible but failed: the tests error."""


def can_install() -> bool:
    return (
        hasattr(os, "geteuid") and os.geteuid() == 0 and bool(shutil.which("apt-get"))
    )


def ensure(packages: Sequence[str], present: Callable[[], bool], what: str) -> None:
    """Make *present()* true by installing *packages*, or say why it cannot be.

    *what* names the missing thing in messages ("Kannel", "Chromium").
    """
    if present():
        return
    command = f"apt-get install {' '.join(packages)}"
    if not can_install():
        raise Unavailable(
            f"{what} is not installed, and this is not a root Debian machine "
            f"with apt-get: {command}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "-o",
        f"DPkg::Lock::Timeout={LOCK_WAIT}",
        *packages,
    ]
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if present():  # another test process installed it meanwhile
            return
        done = _run(install, env)
        if done.returncode != 0:
            # A fresh machine whose package lists were never downloaded, or
            # are too old to name the current version.
            _run(
                ["apt-get", "update", "-q", "-o", f"DPkg::Lock::Timeout={LOCK_WAIT}"],
                env,
            )
            done = _run(install, env)
    if done.returncode != 0 or not present():
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise InstallFailed(
            f"{command} failed (exit {done.returncode}): "
            + (" / ".join(tail) or "no message")
        )


def _run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            argv,
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=INSTALL_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise InstallFailed(
            f"{' '.join(argv)} took more than {INSTALL_TIMEOUT} s"
        ) from None
