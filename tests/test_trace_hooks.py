"""COBRA_TRACE_HOOKS=1 shows each hook call with its plugins and timing."""

from __future__ import annotations

import re


def test_hook_calls_are_traced_to_stderr(cobra_process):
    traced = cobra_process("plugins", env={"COBRA_TRACE_HOOKS": "1"})
    assert traced.returncode == 0, traced.stderr
    lines = [line for line in traced.stderr.splitlines() if line.startswith("cobra hook:")]
    assert any(re.fullmatch(r"cobra hook: register_importers -> csv \(\d+\.\d\d ms\)", line)
               for line in lines), lines
    assert any(line.startswith("cobra hook: register_channels -> smtp (") for line in lines)
    # The table on stdout is untouched.
    assert "cobra hook" not in traced.stdout


def test_without_the_variable_nothing_is_traced(cobra_process):
    quiet = cobra_process("plugins", env={"COBRA_TRACE_HOOKS": "0"})
    assert "cobra hook" not in quiet.stderr
