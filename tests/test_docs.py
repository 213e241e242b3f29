"""The documentation matches the code it describes."""

from __future__ import annotations

import inspect
import json
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


# -- every hook: its parameters, its aggregation, its example ----------------------


def hook_sections() -> dict[str, str]:
    """Each hook's section of docs/plugins.md, from its heading to the next."""
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    headings = list(re.finditer(r"^#{2,3} ", text, flags=re.MULTILINE))
    sections = {}
    for here, after in zip(headings, headings[1:] + [None]):
        end = after.start() if after else len(text)
        found = re.match(r"### `(\w+)\(", text[here.start() : end])
        if found:
            sections[found.group(1)] = text[here.start() : end]
    return sections


def test_every_hook_documents_each_parameter_and_its_aggregation_rule():
    sections = hook_sections()
    for name, function in hook_functions().items():
        section = sections[name]
        for parameter in inspect.signature(function).parameters:
            assert re.search(rf"^- `{parameter}`: \S", section, flags=re.MULTILINE), (
                f"docs/plugins.md: {name} does not describe its parameter {parameter}"
            )
        rules = re.findall(
            r"^Aggregation: (.+?)(?:\n\n|\Z)", section, flags=re.MULTILINE | re.DOTALL
        )
        assert len(rules) == 1, f"docs/plugins.md: {name} needs one 'Aggregation:' line"
        rule = " ".join(rules[0].split())
        spec = function.cobra_spec
        assert not spec["historic"], f"{name} is historic: document how it replays"
        if spec["firstresult"]:
            assert rule.startswith("`firstresult`"), (name, rule)
        else:
            assert rule.startswith("every plugin's implementation is called"), (name, rule)
            assert "firstresult" not in rule, (name, rule)


def register_example(hook: str, name: str):
    """The example of *hook* in docs/plugins.md, registered as plugin *name*."""
    import types

    from cobra.plugins import get_plugins

    [source] = [
        block
        for block in python_blocks(hook_sections()[hook])
        if f"def {hook}(" in block
    ]
    module = types.ModuleType(name.replace("-", "_"))
    exec(compile(source, "docs/plugins.md", "exec"), module.__dict__)
    get_plugins().register(module, name=name)
    return module


def test_the_commands_example_in_the_plugin_docs_adds_a_command(run):
    from cobra.cli import cli

    register_example("register_commands", "acme-sync")
    try:
        result = run("acme-sync")
        assert (result.exit_code, result.stdout) == (0, "synced\n"), result.stderr
        assert "Pull today's invoices from Acme Ledger." in run("acme-sync", "--help").stdout
    finally:
        cli.commands.pop("acme-sync", None)


def late_customers(run, tmp_path, **segments):
    """BIG owes 9000.00 USD overdue, SMALL 300.00; each in *segments* if named."""
    from datetime import date

    from histories import History, load

    big = History("BIG", "Big Buyer Inc.", segment=segments.get("BIG"))
    big.monthly(date(2026, 1, 1), 11, "3000.00", unpaid={8, 9, 10})
    small = History("SMALL", "Small Buyer Inc.", segment=segments.get("SMALL"))
    small.monthly(date(2026, 1, 1), 11, "300.00", unpaid={10})
    load(run, tmp_path, big, small)


def diagnosis(run, account: str) -> dict:
    result = run("show", account, "--as-of", "2026-12-15", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["diagnosis"]


def test_the_evidence_example_in_the_plugin_docs_feeds_a_diagnosis_rule(
    run, isolated, tmp_path
):
    register_example("register_evidence", "acme-exposure")
    (isolated / "cobra.toml").write_text(
        "[[diagnosis.rules]]\n"
        'reason = "cannot_pay"\n'
        "confidence = 0.6\n"
        'when = ["overdue_major_units >= 5000"]\n',
        encoding="utf-8",
    )
    late_customers(run, tmp_path)
    assert diagnosis(run, "BIG")["reason"] == "cannot_pay"
    assert diagnosis(run, "BIG")["source"] == "rule 1"
    assert diagnosis(run, "SMALL")["reason"] == "unknown"


def test_the_diagnose_example_in_the_plugin_docs_answers_for_public_bodies(
    run, tmp_path
):
    register_example("diagnose", "acme-government")
    late_customers(run, tmp_path, BIG="government")
    assert diagnosis(run, "BIG") == {
        "reason": "unknown",
        "confidence": 0.5,
        "evidence": ["public bodies pay on their own calendar"],
        "source": "plugin government",
    }
    # The example answers None for everyone else: the rules decide.
    assert diagnosis(run, "SMALL")["source"] != "plugin government"


# -- the methods a plugin author writes -------------------------------------------

# A channel backend is duck-typed (cobra/channels.py describes it): its
# methods are read from the built-in backends, which cobra calls the same way.
BACKEND_METHODS = ("connect", "check", "receipt", "inbound")


def parameters(function, bound: bool = True) -> str:
    """*function*'s parameters as docs/plugins.md writes them: names, and
    ``*`` or ``**``, without ``self``, annotations or defaults.

    cobra passes every argument, so a default an implementation gives itself
    (kannel's ``receipt(request, settings=None)``, for its own tests) does
    not change what a plugin must accept.
    """
    found = list(inspect.signature(function).parameters.values())
    kept = found if bound else found[1:]
    bare = (p.replace(annotation=p.empty, default=p.empty) for p in kept)
    return "(" + ", ".join(map(str, bare)) + ")"


def author_methods() -> dict[str, set[str]]:
    """Each method a plugin author writes, with its parameters in the code."""
    from cobra.channels import Session
    from cobra.importers import Importer
    from cobra.plugins import get_plugins

    methods: dict[str, set[str]] = {}
    for cls in (Importer, Session):
        for name, function in vars(cls).items():
            if inspect.isfunction(function) and not name.startswith("_"):
                methods.setdefault(name, set()).add(parameters(function, bound=False))
    plugins = get_plugins()
    for registered in plugins.channels().values():
        for name in BACKEND_METHODS:
            method = getattr(registered.obj, name, None)
            if method is not None:
                methods.setdefault(name, set()).add(parameters(method))
    for registered in plugins.importers().values():
        for name in ("read", "recognizes"):
            methods[name].add(parameters(getattr(registered.obj, name)))
    return methods


def documented_methods(text: str, names) -> list[tuple[str, str, str]]:
    """``(name, parameters, as written)`` for each mention of a method in
    *names*: in inline code (``Session.lookup(key)``) and in the examples'
    ``def`` lines (without ``self``)."""
    found = []
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    for span in re.findall(r"`([^`\n]+)`", prose):
        for name, params in re.findall(r"(?<![\w.])(?:\w+\.)?(\w+)(\([^()]*\))", span):
            if name in names:
                found.append((name, params, span))
    for block in python_blocks(text):
        for written, name, params in re.findall(
            r"\b(def (\w+)\(self,?\s*([^)]*)\))", block
        ):
            if name in names:
                params = "(" + ", ".join(params.replace(",", " ").split()) + ")"
                found.append((name, params, " ".join(written.split())))
    return found


def test_every_method_a_plugin_writes_is_documented_with_its_parameters():
    """Importer.read and recognizes, the backend's connect, check, receipt and
    inbound, the session's methods: as the code has them."""
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    methods = author_methods()
    assert {"read", "recognizes", "connect", "send", "lookup", "close"} <= set(methods)
    for name, signatures in methods.items():
        assert len(signatures) == 1, f"{name} takes different parameters: {signatures}"
    mentions = documented_methods(text, methods)
    missing = sorted(set(methods) - {name for name, _, _ in mentions})
    assert not missing, f"docs/plugins.md does not document {missing}"
    for name, params, written in mentions:
        [expected] = methods[name]
        assert params == expected, (
            f"docs/plugins.md: {written!r}: the code's {name} takes {expected}"
        )
