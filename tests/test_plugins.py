"""Plugin loading through real entry points, the kill switch, and failures.

Each fake plugin here is a real distribution as far as Python's packaging
is concerned: a module plus a ``*.dist-info`` folder with ``entry_points.txt``
on ``sys.path``, found by ``importlib.metadata`` as an installed one is.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest

from cobra import plugins

CHAT_PLUGIN = """
import click
import cobra


class ChatChannel:
    name = "chat"
    description = "Posts messages to a chat room."


class LedgerImporter:
    name = "ledger"
    description = "Reads a ledger file."


@cobra.hookimpl
def register_channels(register):
    register(ChatChannel())


@cobra.hookimpl
def register_importers(register):
    register(LedgerImporter())


@cobra.hookimpl
def register_commands(cli):
    @cli.command("hello")
    def hello():
        "Say hello from a plugin."
        click.echo("hello from chat")

    @cli.command("init")
    def init():
        "Try to replace a built-in command."
        click.echo("hijacked")
"""


def install(site: Path, dist: str, version: str, entry: str, module: str, source: str):
    """Lay out a distribution the way pip would leave it in site-packages."""
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[cobra]\n{entry} = {module}\n", encoding="utf-8"
    )


@pytest.fixture
def site(tmp_path, monkeypatch):
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv("COBRA_LOAD_PLUGINS", raising=False)
    yield folder
    importlib.invalidate_caches()
    for name in [m for m in sys.modules if m.startswith("fake_")]:
        del sys.modules[name]


@pytest.fixture
def chat(site):
    install(site, "cobra-chat", "1.2.3", "chat", "fake_chat", CHAT_PLUGIN)
    importlib.invalidate_caches()
    return site


def listing(run, *env_args) -> dict[str, dict]:
    result = run("plugins", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_plugins_lists_what_each_plugin_provides(chat, run):
    rows = listing(run)
    assert rows["chat"] == {
        "name": "chat",
        "distribution": "cobra-chat",
        "version": "1.2.3",
        "builtin": False,
        "importers": ["ledger"],
        "channels": ["chat"],
        "error": None,
    }


def test_empty_kill_switch_loads_no_third_party_plugin(chat, run, monkeypatch):
    monkeypatch.setenv("COBRA_LOAD_PLUGINS", "")
    assert "chat" not in listing(run)


def test_kill_switch_can_name_the_plugins_to_load(chat, run, monkeypatch):
    install(chat, "cobra-other", "0.1", "other", "fake_other", "")
    monkeypatch.setenv("COBRA_LOAD_PLUGINS", "cobra-chat")
    rows = listing(run)
    assert "chat" in rows and "other" not in rows
    plugins.reset()
    monkeypatch.setenv("COBRA_LOAD_PLUGINS", "other")
    rows = listing(run)
    assert "other" in rows and "chat" not in rows


def test_a_plugin_that_fails_to_import_is_named_and_skipped(chat, run):
    install(
        chat,
        "cobra-broken",
        "0.0.1",
        "broken",
        "fake_broken",
        "raise RuntimeError('oops')\n",
    )
    result = run("plugins", "--format", "json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["broken"]["error"] == "RuntimeError: oops"
    assert rows["broken"]["importers"] == []
    assert rows["chat"]["error"] is None  # the others still load
    assert (
        "plugin broken (cobra-broken) was skipped: RuntimeError: oops" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_a_misspelled_hook_is_reported_not_silently_ignored(site, run):
    source = (
        "import cobra\n\n@cobra.hookimpl\ndef register_importer(register):\n    pass\n"
    )
    install(site, "cobra-typo", "1.0", "typo", "fake_typo", source)
    rows = listing(run)
    assert "unknown hook 'register_importer'" in rows["typo"]["error"]


def test_a_broken_plugin_does_not_lock_the_user_out(chat, run):
    install(
        chat,
        "cobra-broken",
        "0.0.1",
        "broken",
        "fake_broken",
        "import no_such_module\n",
    )
    result = run("hello")
    assert result.exit_code == 0
    assert result.stdout == "hello from chat\n"


def test_plugin_commands_run_but_cannot_replace_built_ins(chat, run):
    assert run("hello").stdout == "hello from chat\n"
    result = run("init", "--help")
    assert "hijacked" not in result.stdout
    assert "starter config" in result.stdout


def test_the_first_registration_of_a_name_wins_and_the_clash_is_reported(chat, run):
    channel_only = CHAT_PLUGIN.split("@cobra.hookimpl\ndef register_importers")[0]
    install(chat, "cobra-chat2", "2.0", "chat2", "fake_chat2", channel_only)
    result = run("plugins", "--format", "json")
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert [r["channels"] for r in (rows["chat"], rows["chat2"])].count(["chat"]) == 1
    assert "channel 'chat' from plugin" in result.stderr
    assert "registered it first" in result.stderr


def test_plugins_load_once_per_process(chat):
    first = plugins.get_plugins()
    assert plugins.get_plugins() is first


def test_help_loads_no_plugin(chat, cobra_process, tmp_path):
    marker = tmp_path / "imported"
    install(
        chat,
        "cobra-spy",
        "1.0",
        "spy",
        "fake_spy",
        f"open({str(marker)!r}, 'w').close()\n",
    )
    env = {"PYTHONPATH": str(chat), "COBRA_LOAD_PLUGINS": "spy"}
    assert cobra_process("--help", env=env).returncode == 0
    assert not marker.exists()
    assert cobra_process("plugins", env=env).returncode == 0
    assert marker.exists()


def test_builtins_provide_only_importers_and_channels_so_they_load_on_demand():
    # The built-ins are imported only when importers or channels are asked
    # for; that is right only while they implement no other hook.
    import sys
    from importlib import import_module

    from cobra import hookspecs
    from cobra import plugins as plugins_module

    hook_names = {
        name for name in dir(hookspecs) if name.startswith(("register_", "diagnose"))
    }
    loaded = plugins_module.load()
    assert loaded.deferred, "the built-ins should wait to be imported"
    assert not any(loaded.manager.has_plugin(info.name) for _, info in loaded.deferred)
    for entry, info in loaded.deferred:
        module = import_module(entry.value)
        implemented = hook_names & set(vars(module))
        assert implemented <= {"register_importers", "register_channels"}, info.name
    assert "cobra_plugins.channel_smtp" in sys.modules  # imported just above
    loaded.importers()
    assert not loaded.deferred
    assert loaded.manager.has_plugin("csv") and loaded.manager.has_plugin("smtp")
