"""COBRA_TRACE_HOOKS=1 shows each hook call with its plugins and timing."""

from __future__ import annotations

import json
import re

from histories import good_payer, load, struggling

import cobra
from cobra.diagnosis import Diagnosis
from cobra.plugins import get_plugins

TRACED = "cobra hook: "


def test_hook_calls_are_traced_to_stderr(cobra_process):
    traced = cobra_process("plugins", env={"COBRA_TRACE_HOOKS": "1"})
    assert traced.returncode == 0, traced.stderr
    lines = [
        line for line in traced.stderr.splitlines() if line.startswith("cobra hook:")
    ]
    assert any(
        re.fullmatch(r"cobra hook: register_importers -> csv \(\d+\.\d\d ms\)", line)
        for line in lines
    ), lines
    assert any(
        line.startswith("cobra hook: register_channels -> smtp (") for line in lines
    )
    # The table on stdout is untouched.
    assert "cobra hook" not in traced.stdout


def test_without_the_variable_nothing_is_traced(cobra_process):
    quiet = cobra_process("plugins", env={"COBRA_TRACE_HOOKS": "0"})
    assert "cobra hook" not in quiet.stderr


# -- the hooks `cobra prioritize` calls, per customer ---------------------------------


class BankFlags:
    """A plugin adding one fact and diagnosing the accounts its bank flagged."""

    @cobra.hookimpl
    def register_evidence(self, register):
        register(
            "bank_flag",
            "1 for accounts the bank flagged",
            lambda evidence: 1 if evidence.account == "ACME" else 0,
        )

    @cobra.hookimpl
    def diagnose(self, evidence):
        if not evidence.facts["bank_flag"]:
            return None
        return Diagnosis("fraud", 0.95, ["the bank flagged the account"], "plugin bank")


def test_prioritize_traces_the_evidence_and_diagnose_hooks(run, tmp_path, monkeypatch):
    # Set before the plugins load: the tracer is attached when they do.
    monkeypatch.setenv("COBRA_TRACE_HOOKS", "1")
    get_plugins().register(BankFlags(), name="bank")
    load(run, tmp_path, good_payer(), struggling())

    result = run("prioritize", "--as-of", "2026-06-05", "--format", "json")
    assert result.exit_code == 0, result.stderr
    # The worklist on stdout is untouched, and the plugin's answers are in it.
    reasons = {row["account"]: row["reason"] for row in json.loads(result.stdout)}
    assert reasons == {"ACME": "fraud", "BRICK": "cannot_pay"}

    traced = [line for line in result.stderr.splitlines() if line.startswith(TRACED)]
    calls = [
        re.fullmatch(r"cobra hook: (\w+)\((\w+)\) -> \[bank\] \(\d+\.\d\d ms\)", line)
        for line in traced
    ]
    assert all(calls), traced
    hooks = [(call[1], call[2]) for call in calls]
    # The facts are asked for at least once (the fast worklist asks too, to
    # see whether a plugin adds any); the diagnosis once per customer.
    assert ("register_evidence", "register") in hooks
    assert hooks.count(("diagnose", "evidence")) == 2
    assert set(hooks) == {("register_evidence", "register"), ("diagnose", "evidence")}
