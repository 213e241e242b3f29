"""Fixtures shared by the whole suite.

Every test runs in a fresh working directory with its own user directories
(``COBRA_HOME``), no installed third-party plugin, and COBRA_DEBUG on, so an
unexpected exception fails the test with its traceback instead of turning
into a friendly message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cobra import logs, paths, plugins
from cobra.cli import cli

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("COBRA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COBRA_DEBUG", "1")
    monkeypatch.setenv("COBRA_LOAD_PLUGINS", "")
    for name in ("COBRA_CONFIG", "COBRA_DB", "COBRA_TRACE_HOOKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(paths, "SYSTEM_CONFIG", tmp_path / "etc" / "cobra.toml")
    plugins.reset()
    yield work
    plugins.reset()
    # Secrets read by one test (a password "wrong") must not be scrubbed from
    # the next test's output.
    logs._secrets.clear()


@pytest.fixture
def run():
    """Invoke the cobra CLI in-process; returns click's Result.

    stdout and stderr are kept apart, since cobra's data goes to stdout and
    its messages to stderr.
    """

    def invoke(*args: str, input: str | None = None, env: dict | None = None):
        runner = CliRunner()
        return runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def cobra_process():
    """Run cobra as a real subprocess, as cron or a shell would."""

    def start(*args: str, env: dict | None = None, cwd: Path | None = None, **kwargs):
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "cobra", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            timeout=60,
            **kwargs,
        )

    return start
