"""The documentation matches the code it describes."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from cobra import hookspecs
from cobra.config_schema import SCHEMA, Key, Table, TableMap

DOCS = Path(__file__).resolve().parent.parent / "docs"


def hook_functions():
    return {
        name: function
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, "cobra_spec")
    }


def test_every_hook_is_documented_with_its_exact_signature():
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^### `(\w+)(\(.*\))`$", text, flags=re.MULTILINE))
    hooks = hook_functions()
    assert hooks, "no hook specifications found"
    for name, function in hooks.items():
        assert name in documented, f"hook {name} is missing from docs/plugins.md"
        assert documented[name] == str(inspect.signature(function)), name
    assert set(documented) <= set(hooks), "docs/plugins.md documents a hook that does not exist"


def schema_keys(table: Table, prefix: str = ""):
    for name, spec in table.keys.items():
        if isinstance(spec, Key):
            yield prefix + name
        elif isinstance(spec, TableMap):
            yield from schema_keys(spec.item, f"{prefix}{name}.NAME.")
        else:
            yield from schema_keys(spec, f"{prefix}{name}.")


def test_every_config_key_is_documented():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for key in schema_keys(SCHEMA):
        assert f"`{key}`" in text, f"{key} is missing from docs/configuration.md"


def test_the_outcomes_listed_are_the_outcomes_cobra_log_knows():
    from cobra.followup import OUTCOMES

    guide = (DOCS / "follow-up.md").read_text(encoding="utf-8")
    listed = re.search(r"^Outcomes: (.+?), and any listed", guide, re.S | re.M)
    assert listed, "docs/follow-up.md lost its list of outcomes"
    assert re.findall(r"`(\w+)`", listed.group(1)) == list(OUTCOMES)
    documented = re.findall(r"^\| `(\w+)`", guide, re.M)
    for outcome in ("promise", "dispute", "dispute_resolved", "plan_agreed",
                    "wrong_contact", "paid"):
        assert outcome in documented, f"docs/follow-up.md: no row for {outcome}"

    starter = (DOCS.parent / "config" / "cobra.toml").read_text(encoding="utf-8")
    comment = re.search(r"besides the built-in ones \((.+?)\)\.", starter, re.S)
    assert comment, "config/cobra.toml lost its list of outcomes"
    words = re.sub(r"[#\s]+", " ", comment.group(1))
    assert [w.strip() for w in words.split(",")] == list(OUTCOMES)


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.+?)```", text, flags=re.DOTALL)


def test_the_importer_example_in_the_plugin_docs_works(tmp_path, run):
    """The documented importer, registered as a plugin, imports a real file."""
    import types

    from cobra.plugins import get_plugins

    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    source = next(block for block in python_blocks(text) if "AcmeLedgerImporter" in block)
    module = types.ModuleType("acme_ledger")
    exec(compile(source, "docs/plugins.md", "exec"), module.__dict__)
    get_plugins().register(module, name="acme-ledger")

    ledger = tmp_path / "ACME.LED"
    ledger.write_text(
        "C0000001F-00000001" "20261130" "000000012550\n"
        "C0000001F-00000002" "20261231" "000000001000\n"
        "C0000002F-00000003" "2026XX31" "000000001000\n",
        encoding="ascii",
    )
    result = run("import", str(ledger), "--currency", "EUR", "--skip-invalid")
    assert result.exit_code == 0, result.stderr
    assert "invoices: 2 inserted" in result.stderr
    assert "rejected: 1" in result.stderr
    rows = run("customers", "--format", "json", "--as-of", "2027-01-15").stdout
    assert '"balance": "135.50"' in rows


def test_the_channel_example_in_the_plugin_docs_sends_through_cobra_send(
    tmp_path, run, isolated, monkeypatch
):
    """The documented backend, bound to the sms channel, delivers over HTTP."""
    import json
    import threading
    import types
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from outbox_seed import seed

    from cobra.plugins import get_plugins

    received = []

    class ChatService(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers["Authorization"] != "Bearer s3cret":
                self.send_response(401)
                self.end_headers()
                return
            received.append((self.path, json.loads(body)))
            answer = json.dumps({"id": f"m-{len(received)}"}).encode()
            self.send_response(201)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        text = (DOCS / "plugins.md").read_text(encoding="utf-8")
        source = next(block for block in python_blocks(text) if "ChatBackend" in block)
        module = types.ModuleType("acme_chat")
        exec(compile(source, "docs/plugins.md", "exec"), module.__dict__)
        get_plugins().register(module, name="acme-chat")
        (isolated / "cobra.toml").write_text(
            "[channels.sms]\n"
            'backend = "acmechat"\n'
            f'url = "http://127.0.0.1:{server.server_address[1]}/api"\n'
            'token_env = "ACME_CHAT_TOKEN"\n',
            encoding="utf-8",
        )
        db = run("db", "path").stdout.strip()
        [key] = seed(db, 1, channel="sms")
        monkeypatch.setenv("ACME_CHAT_TOKEN", "expired-token-4711")
        refused = run("send", "--at", "2026-12-03T11:00:00-05:00", "--for", "2026-12-03")
        assert refused.exit_code == 1
        assert "the chat service refused the token" in refused.stderr
        monkeypatch.setenv("ACME_CHAT_TOKEN", "s3cret")
        result = run("send", "--at", "2026-12-03T11:00:00-05:00", "--for", "2026-12-03")
        assert result.exit_code == 0, result.stderr
    finally:
        server.shutdown()
        server.server_close()
    [(path, document)] = received
    assert path == "/api/messages"
    assert document == {"to": "+12125550000", "text": document["text"], "ref": key}
    assert "vencida" in document["text"]
    assert "Send: sent 1" in result.stderr
