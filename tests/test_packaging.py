"""An installed cobra carries its built-in plugins, starter config and schema.

The repository keeps `plugins/` and `config/` at the top; the wheel must map
them to `cobra_plugins` and `cobra_starter`, or a user's `pip install` would
get a cobra without importers or embedded defaults.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_holds_plugins_config_and_migrations(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    wheel = zipfile.ZipFile(next(tmp_path.glob("cobra_collect-*.whl")))
    names = set(wheel.namelist())
    for expected in (
        "cobra_starter/cobra.toml",
        "cobra_starter/samples/invoices.csv",
        "cobra_starter/mappings/quickbooks-aging.toml",
        "cobra_starter/strategies/forgot.toml",
        "cobra_starter/profiles/CL.toml",
        "cobra_starter/templates/es/reminder-friendly.j2",
        "cobra_starter/templates/en/_invoices.j2",
        "cobra/store/migrations/0001_initial.sql",
        "cobra_plugins/importer_csv.py",
    ):
        assert expected in names, expected
    assert not any(name.startswith(("plugins/", "config/", "tests/")) for name in names)
    # The example plugin is a package of its own, never part of cobra's wheel.
    assert not any("chat_example" in n or "chat-example" in n for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = wheel.read(entry_points).decode()
    for name in ("csv", "jsonl", "ubl", "tryton"):
        assert f"{name} = cobra_plugins.importer_{name}" in text
