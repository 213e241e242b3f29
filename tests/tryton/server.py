"""Build, seed and run a Tryton 8.0 server on loopback for tests.

Three steps, each cached so that only the first test run on a machine pays:

1. A virtual environment with trytond, proteus and account_invoice from
   PyPI, under ``/tmp/cobra-tryton-cache/8.0/venv-KEY`` (``COBRA_TRYTON_CACHE``
   moves the cache), KEY naming the requirements and the Python version.
2. A template database: trytond-admin creates it with account_invoice
   activated and ``seed.py`` fills it. Its folder's key also covers
   ``seed.py``, so editing the seed builds a new one.
3. For each user, a copy of the template and a ``trytond`` process on a free
   port, stopped by its process id.

A file lock serialises builds, so parallel test runs share one cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERIES = "8.0"
REQUIREMENTS = (
    "trytond>=8.0,<8.1",
    "proteus>=8.0,<8.1",
    "trytond_account_invoice>=8.0,<8.1",
)
DATABASE = "cobra"
ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "tryton-admin-pw-4-tests"
SEED = Path(__file__).with_name("seed.py")
STEP_TIMEOUT = 600  # seconds for pip, trytond-admin or the seed; normally 10-25
START_TIMEOUT = 60  # seconds for trytond to open its port; normally about 1


class Unavailable(Exception):
    """Tryton cannot be installed here (no network to PyPI): skip, not fail."""


@dataclass(frozen=True)
class Template:
    venv: Path
    database: Path  # NAME.sqlite, to copy, never to serve
    manifest: dict  # what seed.py wrote: invoice numbers, party codes, REST key


@dataclass(frozen=True)
class Server:
    port: int
    manifest: dict
    log: Path

    def url(self, database: str = DATABASE) -> str:
        return f"tryton://127.0.0.1:{self.port}/{database}"


def cache_dir() -> Path:
    root = os.environ.get("COBRA_TRYTON_CACHE") or "/tmp/cobra-tryton-cache"
    return Path(root) / SERIES


def build_template() -> Template:
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / "lock"):
        venv = _venv(cache)
        return _template(cache, venv)


@contextmanager
def run_server(template: Template, folder: Path):
    """Serve a fresh copy of the template database; stop the server after."""
    data = folder / "db"
    data.mkdir(parents=True)
    shutil.copy(template.database, data / f"{DATABASE}.sqlite")
    port = _free_port()
    config = _write_config(folder, data, port)
    log = folder / "trytond.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(template.venv / "bin" / "trytond"), "-c", str(config), "-d", DATABASE],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
            cwd=folder,
        )
    try:
        _wait_for_port(port, process, log)
        yield Server(port, template.manifest, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- building ------------------------------------------------------------------------


def _venv(cache: Path) -> Path:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    venv = cache / f"venv-{_key(version, *REQUIREMENTS)}"
    done = venv / ".complete"
    if done.exists():
        return venv
    # Left half-built by an interrupted run: venvs cannot be moved, so they
    # are built in place and marked complete at the end.
    shutil.rmtree(venv, ignore_errors=True)
    _step([sys.executable, "-m", "venv", str(venv)], "creating the Tryton venv")
    try:
        _step(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                *REQUIREMENTS,
            ],
            "pip install",
        )
    except RuntimeError as exc:
        shutil.rmtree(venv, ignore_errors=True)
        raise Unavailable(
            f"pip could not install Tryton {SERIES} (is PyPI "
            f"reachable?): {str(exc)[-300:]}"
        ) from None
    done.touch()
    return venv


def _template(cache: Path, venv: Path) -> Template:
    folder = cache / f"db-{_key(venv.name, SEED.read_bytes().decode())}"
    database = folder / f"{DATABASE}.sqlite"
    manifest = folder / "manifest.json"
    if not manifest.exists():
        work = cache / f"building-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        data = work / "db"
        data.mkdir(parents=True)
        (data / f"{DATABASE}.sqlite").touch()  # trytond-admin needs the file
        config = _write_config(work, data, _free_port())
        password = work / "admin-password"
        password.write_text(ADMIN_PASSWORD)
        env = {**_clean_env(), "TRYTONPASSFILE": str(password)}
        _step(
            [
                str(venv / "bin" / "trytond-admin"),
                "-c",
                str(config),
                "-d",
                DATABASE,
                "--all",
                "--email",
                "admin@example.com",
                "-u",
                "account_invoice",
                "--activate-dependencies",
            ],
            "trytond-admin",
            env=env,
            cwd=work,
        )
        _step(
            [
                str(venv / "bin" / "python"),
                str(SEED),
                str(config),
                DATABASE,
                str(work / "manifest.json"),
            ],
            "seeding",
            cwd=work,
        )
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        shutil.copy(data / f"{DATABASE}.sqlite", database)
        # The manifest last: its presence says the folder is complete.
        shutil.copy(work / "manifest.json", manifest)
        shutil.rmtree(work, ignore_errors=True)
    return Template(venv, database, json.loads(manifest.read_text()))


def _step(
    command: list[str], what: str, env: dict | None = None, cwd: Path | None = None
) -> None:
    done = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or _clean_env(),
        timeout=STEP_TIMEOUT,
    )
    if done.returncode:
        output = (done.stdout + done.stderr).strip()
        raise RuntimeError(f"{what} failed ({done.returncode}): {output[-2000:]}")


def _clean_env() -> dict[str, str]:
    # Nothing of cobra's test process may leak into Tryton's interpreter,
    # nor a developer's own Tryton settings into the tests.
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TRYTON", "PYTHON", "VIRTUAL_ENV", "COBRA"))
    }


def _write_config(folder: Path, data: Path, port: int) -> Path:
    config = folder / "trytond.conf"
    config.write_text(
        "[database]\n"
        "uri = sqlite://\n"
        f"path = {data}\n"
        "[web]\n"
        f"listen = 127.0.0.1:{port}\n"
    )
    return config


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


@contextmanager
def _locked(path: Path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- running -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"trytond exited with {process.returncode}: "
                f"{log.read_text(errors='replace')[-2000:]}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(
        f"trytond did not open port {port} within {START_TIMEOUT} s: "
        f"{log.read_text(errors='replace')[-2000:]}"
    )
