"""The README's two commands stay true.

CI runs the second one verbatim (``.ci/run``); the first is run here with
the virtualenv steps left out, since the suite already runs inside one.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", readme())


def test_readme_opens_with_the_two_commands():
    before_first_section = readme().split("\n## ")[0]
    assert len(re.findall(r"```sh\n", before_first_section)) == 2
    first, second = readme_commands()[:2]
    assert "cobra init" in first
    assert "pytest" in second


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()


def test_the_first_command_works(tmp_path):
    steps = [
        step
        for step in readme_commands()[0].split(" && ")
        if not step.startswith(("python3 -m venv", ".venv/bin/pip"))
    ]
    script = " && ".join(steps).replace(".venv/bin/cobra", f"{sys.executable} -m cobra")
    # The command runs from the repository root; a folder that sees the same
    # relative paths keeps the demo's files out of the real checkout.
    for name in ("config", "bench", "docs"):
        (tmp_path / name).symlink_to(REPO / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBRA_")}
    result = subprocess.run(
        ["bash", "-c", script], check=False, cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".demo" / "cobra.toml").exists()
    assert (tmp_path / ".demo" / "cobra.sqlite").exists()
    assert "customers 40 inserted" in result.stderr

    # The day's messages went out through the file backend, for the owner's
    # eyes only, and nothing was left waiting for a later hour.
    outbox = tmp_path / ".demo" / "outbox"
    messages = sorted(outbox.glob("*.eml")) + sorted(outbox.glob("*.json"))
    assert messages, f"cobra run sent nothing to .demo/outbox/:\n{result.stderr}"
    assert {stat.S_IMODE(m.stat().st_mode) for m in messages} == {0o600}
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    sent = re.search(r"^  sent (\d+), failed 0, held 0, retried 0, waiting 0$",
                     result.stderr, re.MULTILINE)
    assert sent, result.stderr

    # The worklist, then the agenda of that day: the calls the plan left for
    # a person, which with the files make up everything sent.
    worklist = re.findall(r"^\d+ +C\d{7} ", result.stdout, re.MULTILINE)
    assert len(worklist) == 10, result.stdout
    calls = re.findall(r"^T\d+ +2026-12-07 +call +C\d{7} ", result.stdout, re.MULTILINE)
    assert calls, result.stdout
    assert "Nothing due" not in result.stderr
    assert int(sent.group(1)) == len(messages) + len(calls)
