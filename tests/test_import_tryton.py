"""The tryton importer against a real Tryton 8.0 server, and stubs for failures.

The real server runs from its own virtual environment (Tryton is GPL; cobra
only talks to it over HTTP): see ``tests/tryton/server.py``, and
``tests/tryton/seed.py`` for the ledger it serves. Failure modes a real
server cannot be made to show on demand (a 500 that goes away, a 429, an
HTML page, a hang) come from small loopback stubs instead.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cobra_plugins import importer_tryton
from tryton import server as tryton_server

from cobra import paths

SECRET_ENV = ("TRYTON_USER", "TRYTON_PASSWORD", "TRYTON_API_KEY")


@pytest.fixture(autouse=True)
def no_tryton_credentials(monkeypatch):
    # Credentials of the developer's shell must not decide what a test sees.
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def tryton_template():
    try:
        return tryton_server.build_template()
    except tryton_server.Unavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def tryton(tryton_template, tmp_path_factory):
    # One server for the module, on its own copy of the database. The tests
    # only read from it, so they can share it.
    with tryton_server.run_server(
        tryton_template, tmp_path_factory.mktemp("tryton")
    ) as running:
        yield running


def admin_env(**extra) -> dict:
    return {
        "TRYTON_USER": tryton_server.ADMIN_LOGIN,
        "TRYTON_PASSWORD": tryton_server.ADMIN_PASSWORD,
        **extra,
    }


@contextmanager
def ledger():
    """cobra's database, as the import left it."""
    conn = sqlite3.connect(paths.user_data_dir() / "cobra.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def invoices() -> dict[str, tuple]:
    with ledger() as conn:
        return {
            row["number"]: (
                row["account"],
                row["issue_date"],
                row["due_date"],
                row["currency"],
                row["amount"],
                row["balance"],
                row["status"],
            )
            for row in conn.execute(
                "SELECT i.*, c.account FROM invoices i"
                " JOIN customers c ON c.id = i.customer_id"
            )
        }


def snapshot() -> dict[str, list]:
    """The ledger tables, to compare two imports.

    Without the import log, and without ``seen_import``, which records by
    design that the latest import saw the row.
    """
    tables = {}
    with ledger() as conn:
        for table in (
            "customers",
            "contacts",
            "invoices",
            "credit_notes",
            "payments",
            "allocations",
        ):
            rows = [
                dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY id")
            ]
            for row in rows:
                row.pop("seen_import", None)
            tables[table] = rows
    return tables


# -- against the real server ------------------------------------------------------


# What cobra must hold after importing seed.py's ledger. acme-partly-paid had
# 200.00 of 500.00 paid: Tryton's amount_to_pay is the balance. beta-split has
# two maturities, after 15 and 45 days: the due date is the earlier.
EXPECTED_INVOICES = """
label             account  issued     due        cur  amount  balance status
acme-open         C-ACME   2026-09-01 2026-10-01 USD  123450  123450  open
acme-partly-paid  C-ACME   2026-10-15 2026-11-14 USD  50000   30000   open
beta-paid         C-BETA   2026-08-20 2026-09-19 USD  99999   0       paid
beta-split        C-BETA   2026-11-01 2026-11-16 USD  25000   25000   open
gamma-eur         C-GAMMA  2026-10-05 2026-11-04 EUR  78000   78000   open
delta-open        C-DELTA  2026-07-10 2026-08-09 USD  7525    7525    open
"""


def expected_invoices(manifest) -> dict[str, tuple]:
    """EXPECTED_INVOICES by the numbers Tryton gave the invoices."""
    expected = {}
    for line in EXPECTED_INVOICES.strip().splitlines()[1:]:
        label, account, issued, due, currency, amount, balance, status = line.split()
        number = manifest["invoices"][label]
        row = (account, issued, due, currency, int(amount), int(balance), status)
        expected[number] = row
    return expected


@pytest.mark.slow
def test_import_reads_customers_invoices_balances_and_credit_notes(tryton, run):
    # -vv: debug logging, to check below that no secret reaches the log.
    result = run("-vv", "import", tryton.url(), env=admin_env())
    assert result.exit_code == 0, result.stderr
    assert "customers: 4 inserted" in result.stderr
    assert "invoices: 6 inserted" in result.stderr
    assert "credit notes: 1 inserted" in result.stderr
    assert tryton_server.ADMIN_PASSWORD not in result.output + result.stderr

    # Neither the draft nor the supplier invoice: only the six posted or
    # paid customer invoices.
    assert invoices() == expected_invoices(tryton.manifest)

    with ledger() as conn:
        customers = {
            row["account"]: tuple(row)
            for row in conn.execute(
                "SELECT account, name, language, country FROM customers"
            )
        }
        contacts = sorted(
            tuple(row)
            for row in conn.execute(
                "SELECT c.account, k.kind, k.value FROM contacts k"
                " JOIN customers c ON c.id = k.customer_id"
            )
        )
        notes = [
            tuple(row)
            for row in conn.execute(
                "SELECT n.number, c.account, n.issue_date, n.currency, n.amount"
                " FROM credit_notes n JOIN customers c ON c.id = n.customer_id"
            )
        ]
    assert customers == {
        "C-ACME": ("C-ACME", "Acme Ltda", "es", "CL"),
        "C-BETA": ("C-BETA", "Beta LLC", "en", "US"),
        "C-GAMMA": ("C-GAMMA", "Gamma SARL", "fr", "FR"),
        "C-DELTA": ("C-DELTA", "Delta SpA", None, None),
    }
    assert contacts == [
        ("C-ACME", "email", "cobranza@acme.example"),
        ("C-ACME", "phone", "+56223456789"),
        ("C-BETA", "email", "billing@beta.example"),
        ("C-BETA", "phone", "+14155550100"),
        ("C-GAMMA", "email", "compta@gamma.example"),
        # Written "01 42 68 53 00" in Tryton: read in the party's country.
        ("C-GAMMA", "phone", "+33142685300"),
    ]
    # Tryton's credit note is an invoice with a negative total.
    assert notes == [
        (
            tryton.manifest["invoices"]["acme-credit"],
            "C-ACME",
            "2026-11-10",
            "USD",
            10000,
        )
    ]


@pytest.mark.slow
def test_importing_again_changes_nothing(tryton, run):
    assert run("import", tryton.url(), env=admin_env()).exit_code == 0
    before = snapshot()
    result = run("import", tryton.url(), "--format", "json", env=admin_env())
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["customers"] == {"inserted": 0, "updated": 0, "unchanged": 4}
    assert summary["invoices"] == {"inserted": 0, "updated": 0, "unchanged": 6}
    assert summary["credit_notes"] == {"inserted": 0, "unchanged": 1}
    assert snapshot() == before


@pytest.mark.slow
def test_small_pages_read_the_same_ledger(tryton, run):
    result = run("import", tryton.url(), "--tryton-page-size", "2", env=admin_env())
    assert result.exit_code == 0, result.stderr
    assert invoices() == expected_invoices(tryton.manifest)


@pytest.mark.slow
def test_a_rest_key_reads_the_same_ledger(tryton, run):
    result = run(
        "import", tryton.url(), env={"TRYTON_API_KEY": tryton.manifest["rest_key"]}
    )
    assert result.exit_code == 0, result.stderr
    assert invoices() == expected_invoices(tryton.manifest)
    with ledger() as conn:
        languages = dict(conn.execute("SELECT account, language FROM customers"))
    assert languages["C-ACME"] == "es"


@pytest.mark.slow
def test_a_wrong_password_is_refused_without_showing_it(tryton, run):
    wrong = "not-the-admin-password"
    result = run("import", tryton.url(), env=admin_env(TRYTON_PASSWORD=wrong))
    assert result.exit_code == 2
    assert "refused the login" in result.stderr
    assert "TRYTON_PASSWORD" in result.stderr
    # Not even scrubbed: the message never held it.
    assert wrong not in result.stderr and "***" not in result.stderr
    assert invoices() == {}


@pytest.mark.slow
def test_a_wrong_rest_key_is_refused(tryton, run):
    result = run("import", tryton.url(), env={"TRYTON_API_KEY": "0123456789abcdef"})
    assert result.exit_code == 2
    assert "TRYTON_API_KEY" in result.stderr
    assert "0123456789abcdef" not in result.stderr


@pytest.mark.slow
def test_an_unknown_database_is_an_input_error(tryton, run):
    result = run("import", tryton.url("nosuchdb"), env=admin_env())
    assert result.exit_code == 2
    assert "no such database" in result.stderr


# -- without a server -----------------------------------------------------------------


def test_missing_credentials_name_the_variable(run):
    result = run("import", "tryton://127.0.0.1:9/db")
    assert result.exit_code == 2
    assert "TRYTON_USER" in result.stderr

    result = run("import", "tryton://127.0.0.1:9/db", env={"TRYTON_USER": "admin"})
    assert result.exit_code == 2
    assert "TRYTON_PASSWORD is not set" in result.stderr


def test_a_password_in_the_url_is_refused_and_not_repeated(run):
    result = run("import", "tryton://admin:hunter2-secret@127.0.0.1:9/db")
    assert result.exit_code == 2
    assert "no login or password in the URL" in result.stderr
    assert "hunter2-secret" not in result.stderr


@pytest.mark.parametrize("url", ["tryton://127.0.0.1:9", "tryton://127.0.0.1:9/a/b"])
def test_the_url_must_name_one_database(run, url):
    result = run("import", url, env=admin_env())
    assert result.exit_code == 2
    assert "name one database" in result.stderr


def test_a_bad_timeout_is_a_usage_error(run):
    result = run(
        "import", "tryton://127.0.0.1:9/db", "--tryton-timeout", "soon", env=admin_env()
    )
    assert result.exit_code == 2
    assert "--tryton-timeout" in result.stderr


def test_a_server_that_is_down_fails_quickly_naming_the_url(run):
    port = tryton_server._free_port()  # nothing listens there
    started = time.monotonic()
    result = run(
        "import",
        f"tryton://127.0.0.1:{port}/db",
        "--tryton-timeout",
        "1",
        env=admin_env(),
    )
    assert result.exit_code == 1
    assert f"tryton://127.0.0.1:{port}/db" in result.stderr
    assert "connection refused (4 tries)" in result.stderr
    # Three waits of the default backoff (0.5 + 1 + 2 s), nothing more.
    assert time.monotonic() - started < 10


# -- stubs for failure modes --------------------------------------------------------


class StubTryton(ThreadingHTTPServer):
    """A loopback stand-in for failure modes only, not a Tryton emulator.

    It replays Tryton's documented JSON-RPC wire format for the calls the
    importer makes (``{"id", "method", "params"}`` in; ``{"id", "result"}``
    out; decimals and dates as ``__class__`` objects) with one customer and
    one invoice, after answering the first requests with the failures in
    ``failures``, or every request with ``always``.
    """

    daemon_threads = True

    def __init__(self, failures=(), always=None, invoice=None, hide_contacts=False):
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.failures = list(failures)
        self.always = always
        self.invoice = invoice or INVOICE_ROW
        # As Tryton answers a user without read access to contact mechanisms.
        self.hide_contacts = hide_contacts
        self.lock = threading.Lock()
        self.requests = 0
        self.released = threading.Event()  # ends the hanging answers

    @property
    def url(self) -> str:
        return f"tryton://127.0.0.1:{self.server_address[1]}/stubdb"

    def next_failure(self):
        with self.lock:
            self.requests += 1
            return self.failures.pop(0) if self.failures else self.always


INVOICE_ROW = {
    "id": 41,
    "number": "INV-41",
    "party": 7,
    "party.": {"id": 7, "code": "C-STUB", "name": "Stub Customer"},
    "invoice_date": {"__class__": "date", "year": 2026, "month": 10, "day": 1},
    "currency.": {"id": 1, "code": "USD"},
    "total_amount": {"__class__": "Decimal", "decimal": "120.50"},
    "amount_to_pay": {"__class__": "Decimal", "decimal": "20.5"},
    "lines_to_pay.": [
        {
            "id": 3,
            "maturity_date": {"__class__": "date", "year": 2026, "month": 11, "day": 1},
        },
    ],
    "state": "posted",
}


def stub_answer(server: StubTryton, method: str, params: list) -> dict:
    if method == "common.db.login":
        return {"result": [1, "stub-session-token", None]}
    if method == "model.res.user.get_preferences":
        return {"result": {"company": 1, "language": "en"}}
    if method == "model.account.invoice.search_read":
        domain, offset = params[0], params[1]
        credit_notes = ["total_amount", "<", 0] in domain
        return {"result": [] if credit_notes or offset else [server.invoice]}
    if method == "model.party.party.read":
        names = params[1]
        if server.hide_contacts and "contact_mechanisms.value" in names:
            return {"error": ['You are not allowed to read "Contact Mechanism".', ""]}
        party = {"id": 7, "code": "C-STUB", "name": "Stub Customer"}
        if "contact_mechanisms.value" in names:
            party["contact_mechanisms."] = [
                {"id": 1, "type": "email", "value": "stub@example.com"}
            ]
        return {"result": [party]}
    return {"result": None}  # common.db.logout


class StubHandler(BaseHTTPRequestHandler):
    server: StubTryton

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        failure = self.server.next_failure()
        if failure == "hang":
            self.server.released.wait(10)
            return
        if failure == 500:
            self.answer(500, b"Internal Server Error", "text/plain")
        elif failure == 429:
            self.answer(429, b"Too Many Requests", "text/plain", {"Retry-After": "0"})
        elif failure == "html":
            self.answer(
                200, b"<!doctype html><title>Welcome to nginx!</title>", "text/html"
            )
        else:
            body = {
                "id": request["id"],
                **stub_answer(self.server, request["method"], request["params"]),
            }
            self.answer(200, json.dumps(body).encode(), "application/json")

    def answer(self, status, body: bytes, kind: str, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def stub():
    servers = []

    def start(**behaviour) -> StubTryton:
        server = StubTryton(**behaviour)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.released.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(importer_tryton, "BACKOFF_SECONDS", 0.01)


def stub_env() -> dict:
    return {"TRYTON_USER": "stub", "TRYTON_PASSWORD": "stub-password"}


def test_the_stub_alone_imports(stub, run):
    server = stub()
    result = run("import", server.url, env=stub_env())
    assert result.exit_code == 0, result.stderr
    assert invoices() == {
        "INV-41": ("C-STUB", "2026-10-01", "2026-11-01", "USD", 12050, 2050, "open"),
    }


def test_two_500s_then_success_is_retried(stub, run, fast_backoff):
    server = stub(failures=[500, 500])
    result = run("import", server.url, env=stub_env())
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("answered HTTP 500; retrying") == 2
    assert "INV-41" in invoices()


def test_a_500_that_persists_fails_with_the_status(stub, run, fast_backoff):
    server = stub(always=500)
    result = run("import", server.url, env=stub_env())
    assert result.exit_code == 1
    assert "answered HTTP 500 (4 tries)" in result.stderr
    assert server.requests == 4
    assert invoices() == {}


def test_429_waits_as_retry_after_says(stub, run):
    server = stub(failures=[429])
    result = run("import", server.url, env=stub_env())
    assert result.exit_code == 0, result.stderr
    # Retry-After: 0, not the default backoff of 0.5 s.
    assert "answered HTTP 429; retrying in 0.0 s" in result.stderr


def test_an_html_answer_is_not_tryton(stub, run, fast_backoff):
    server = stub(always="html")
    result = run("import", server.url, env=stub_env())
    assert result.exit_code == 1
    assert f"{server.url} did not answer like Tryton" in result.stderr
    assert "text/html" in result.stderr


def test_a_hanging_server_times_out(stub, run, fast_backoff):
    server = stub(always="hang")
    started = time.monotonic()
    result = run("import", server.url, "--tryton-timeout", "0.2", env=stub_env())
    assert result.exit_code == 1
    assert "timed out" in result.stderr
    assert server.url in result.stderr
    assert time.monotonic() - started < 5


def test_decimals_are_exact_in_minor_units(stub, run):
    # An amount a float would not hold exactly, and an exponent form.
    row = {
        **INVOICE_ROW,
        "total_amount": {"__class__": "Decimal", "decimal": "90071992547409.93"},
        "amount_to_pay": {"__class__": "Decimal", "decimal": "1E+1"},
    }
    server = stub(invoice=row)
    result = run("import", server.url, env=stub_env())
    assert result.exit_code == 0, result.stderr
    assert invoices()["INV-41"][4:6] == (9007199254740993, 1000)


def test_the_importer_is_chosen_by_scheme():
    importer = importer_tryton.TrytonImporter()
    assert importer.recognizes("tryton://erp.example:8000/prod")
    assert importer.recognizes("trytons://erp.example/prod")
    assert not importer.recognizes("invoices.csv")


def test_importing_the_module_does_not_import_requests():
    # A fresh interpreter: in this one, other tests have imported requests.
    code = "import sys, cobra_plugins.importer_tryton; print('requests' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "False", done.stderr


def test_an_invalid_invoice_rejects_the_import_naming_it(stub, run):
    server = stub(invoice={**INVOICE_ROW, "currency.": {"id": 9, "code": "XYZ"}})
    result = run("import", server.url, env=stub_env())
    assert result.exit_code == 2
    assert f"{server.url}/account.invoice:41: currency:" in result.stderr
    assert invoices() == {}


def test_customers_without_readable_contacts_still_import(stub, run):
    server = stub(hide_contacts=True)
    result = run("import", server.url, env=stub_env())
    assert result.exit_code == 0, result.stderr
    assert "importing customers with their code and name only" in result.stderr
    with ledger() as conn:
        customers = [
            tuple(row) for row in conn.execute("SELECT account, name FROM customers")
        ]
        contacts = conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0]
    assert customers == [("C-STUB", "Stub Customer")]
    assert contacts == 0
