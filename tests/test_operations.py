"""The scheduling files in docs/deploy/ are valid, and `cobra run` behaves
as cron and systemd expect: exit codes, the lock, quiet on success."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from services import debian

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy"
FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def _field_ok(field: str, low: int, high: int) -> bool:
    for part in field.split(","):
        value, _, step = part.partition("/")
        if step and not step.isdigit():
            return False
        if value == "*":
            continue
        first, _, last = value.partition("-")
        numbers = [first] + ([last] if last else [])
        if not all(n.isdigit() and low <= int(n) <= high for n in numbers):
            return False
    return True


def test_the_crontab_schedules_parse_and_its_commands_are_valid_shell():
    jobs = 0
    for line in (DEPLOY / "crontab").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            continue  # an environment line
        fields = line.split(None, 5)
        assert len(fields) == 6, line
        for field, (low, high) in zip(fields[:5], FIELD_RANGES):
            assert _field_ok(field, low, high), (field, line)
        # cron turns % into newlines unless escaped; the shell sees \%.
        command = fields[5].replace("\\%", "%")
        assert "%" not in fields[5].replace("\\%", ""), "unescaped % in " + line
        check = subprocess.run(["/bin/sh", "-n", "-c", command], capture_output=True)
        assert check.returncode == 0, check.stderr
        jobs += 1
    assert jobs == 2


def test_the_systemd_units_verify(tmp_path):
    try:
        debian.ensure(
            ("systemd",),
            lambda: bool(shutil.which("systemd-analyze")),
            "systemd-analyze",
        )
    except debian.Unavailable as exc:
        pytest.skip(str(exc))
    # The units name cobra where the docs install it; point them at this one.
    cobra = Path(sys.executable).parent / "cobra"
    folder = tmp_path / "units"
    folder.mkdir()
    for unit in DEPLOY.glob("cobra-*"):
        text = unit.read_text().replace("/opt/cobra/.venv/bin/cobra", str(cobra))
        (folder / unit.name).write_text(text)
    units = sorted(str(p) for p in folder.iterdir())
    assert len(units) == 4
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == "", result.stdout + result.stderr


def test_the_run_unit_treats_the_lock_exit_code_as_success():
    assert "SuccessExitStatus=75" in (DEPLOY / "cobra-run.service").read_text()
    assert "-q run" in (DEPLOY / "cobra-run.service").read_text()


def test_the_cron_guide_quotes_the_crontab_as_it_is():
    """docs/operations.md shows the crontab's lines in its cron section: each
    quoted line is in deploy/crontab, and every line of it that cron acts on
    (environment and jobs, not comments) is quoted, in the same order."""
    guide = (DEPLOY.parent / "operations.md").read_text()
    section = guide.split("\n## cron\n", 1)[1].split("\n## ", 1)[0]
    [quoted] = re.findall(r"^```\n(.*?)^```$", section, re.S | re.M)
    crontab = [
        line
        for line in (DEPLOY / "crontab").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert quoted.splitlines() == crontab
