"""The example plugin installs and passes its own tests, as a user's plugin would.

``plugins/cobra-chat-example`` is a distribution of its own. Here pip
installs it into a fresh virtual environment that sees this cobra (the one
under test, with its dependencies and pytest) but holds the plugin alone;
then the plugin's own suite runs there, cobra.testing's contract tests
included, and ``cobra plugins`` must list it. CI runs the whole suite through
the README's test command, so every change to cobra is tried on a plugin
built outside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from xml.etree import ElementTree

import pytest

from cobra.testing import ChannelContract

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "plugins" / "cobra-chat-example"


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(arg) for arg in args],
        check=False,
        capture_output=True,
        text=True,
        **kwargs,
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


def plain_environment(**extra) -> dict:
    """The environment of a user's shell: none of this suite's cobra settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COBRA_", "PYTEST_", "PYTHON"))
    }
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A virtual environment with the example plugin pip-installed in it.

    The environment sees this interpreter's site-packages after its own (a
    ``.pth`` line, as ``--system-site-packages`` does for a system Python),
    so cobra and pytest come from the environment running this suite and
    the plugin's dependency on cobra-collect is already met.
    """
    root = tmp_path_factory.mktemp("example-plugin")
    venv = root / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    own = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).stdout.strip()
    )
    parents = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    (own / "_cobra_under_test.pth").write_text(
        "import site; "
        + "; ".join(f"site.addsitedir({p!r})" for p in sorted(parents))
        + "\n"
    )
    # A copy: building in place would leave build/ and *.egg-info behind.
    source = root / "cobra-chat-example"
    shutil.copytree(
        EXAMPLE,
        source,
        ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", ".pytest_cache", ".venv"
        ),
    )
    pip = [python, "-m", "pip", "install", "-q", f"{source}[test]"]
    run(*pip, env=plain_environment(), timeout=240)
    return python, own, source


@pytest.mark.slow
def test_the_plugin_lands_in_its_own_environment_next_to_this_cobra(installed):
    python, own, _ = installed
    where = run(
        python,
        "-c",
        "import cobra, cobra_chat_example; "
        "print(cobra.__file__); print(cobra_chat_example.__file__)",
        env=plain_environment(),
    ).stdout.split()
    assert where == [
        str(REPO / "cobra" / "__init__.py"),
        str(own / "cobra_chat_example" / "__init__.py"),
    ]
    # Its dependency was met by this cobra, not a second one from the index.
    assert not list(own.glob("cobra_collect*"))


@pytest.mark.slow
def test_cobra_plugins_lists_the_installed_plugin(installed, tmp_path):
    python, _, _ = installed
    result = run(
        python,
        "-m",
        "cobra",
        "plugins",
        "--format",
        "json",
        env=plain_environment(COBRA_HOME=str(tmp_path / "home")),
        cwd=tmp_path,
        timeout=60,
    )
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["matrix"] == {
        "name": "matrix",
        "distribution": "cobra-chat-example",
        "version": "0.1.0",
        "builtin": False,
        "importers": [],
        "channels": ["matrix"],
        "error": None,
    }
    assert rows["webhook"]["builtin"] is True


@pytest.mark.slow
def test_the_plugins_own_suite_passes_with_the_contract_tests(installed, tmp_path):
    python, _, source = installed
    report = tmp_path / "report.xml"
    result = subprocess.run(
        [
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
        ],
        check=False,
        cwd=source,
        env=plain_environment(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        if case.get("classname", "").endswith("TestMatrixContract"):
            states = [child.tag for child in case]
            outcomes[case.get("name")] = states[0] if states else "passed"
    contract = {name for name in dir(ChannelContract) if name.startswith("test_")}
    assert set(outcomes) == contract
    # Matrix cannot look a message up by its key, and sends one message a
    # request; everything else must pass.
    skipped = {name for name, state in outcomes.items() if state != "passed"}
    assert skipped == {
        "test_a_sent_message_is_found_by_its_key_when_it_can_look_up",
        "test_a_batch_reaches_the_provider_with_one_result_per_message",
        "test_a_permanent_failure_in_a_batch_fails_that_message_only",
    }
