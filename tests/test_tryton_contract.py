"""cobra.testing's importer contract, run on the built-in tryton importer.

What it reads comes from a real Tryton 8.0 server (``tests/tryton/server.py``;
the test skips, saying why, when Tryton cannot be installed here); a server
that is down or never answers is one of the contract's own loopback ports.
The importer runs as shipped, its retries and their waits included.
"""

# ruff: noqa: F811 - the server fixtures imported from test_import_tryton are
# parameters of the fixtures below, which ruff takes for redefinitions.

from __future__ import annotations

import pytest
from cobra_plugins import importer_tryton

# The real server's fixtures, shared with the importer's own tests.
from test_import_tryton import (
    admin_env,
    tryton,  # noqa: F401  (a fixture)
    tryton_template,  # noqa: F401
)

from cobra.testing import ImporterContract


@pytest.mark.slow
class TestTrytonImporterContract(ImporterContract):
    tries = importer_tryton.TRIES
    # Each wait doubles the one before: 0.5 + 1 + 2 s.
    retry_waits = sum(
        importer_tryton.BACKOFF_SECONDS * 2**n for n in range(importer_tryton.TRIES - 1)
    )

    @pytest.fixture(autouse=True)
    def login(self, monkeypatch):
        # The admin's, whatever the developer's shell holds.
        for name, value in admin_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv(importer_tryton.API_KEY_ENV, raising=False)

    @pytest.fixture
    def importer(self):
        return importer_tryton.TrytonImporter()

    @pytest.fixture
    def good_source(self, tryton):
        return tryton.url()

    @pytest.fixture
    def malformed_source(self, tryton):
        url = tryton.url("nosuchdb")
        return url, url

    @pytest.fixture
    def source_at(self):
        return lambda host, port: f"tryton://{host}:{port}/cobra"

    @pytest.fixture
    def timeout_options(self):
        return lambda seconds: {"tryton_timeout": seconds}

    def test_bad_rows_are_reported_with_their_lines(self):
        pytest.skip(
            "the seeded Tryton ledger holds no invalid invoice; "
            "test_import_tryton.py rejects one from its stub server"
        )

    def test_the_first_record_comes_before_the_source_ends(self):
        pytest.skip(
            "a server is read page by page, not from a pipe; "
            "test_small_pages_read_the_same_ledger reads it two invoices a page"
        )
