"""Realistic customer histories for tests, imported through the jsonl importer.

A :class:`History` collects one customer's records (invoices billed monthly,
paid early, late, in part or not at all); :func:`load` imports histories
through ``cobra import`` as a user would.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path


class History:
    """One customer's records as the jsonl importer reads them."""

    def __init__(self, account: str, name: str, *, segment: str | None = None,
                 currency: str = "USD", phone: str | None = None):
        self.account = account
        self.currency = currency
        customer = {"type": "customer", "customer_id": account, "name": name,
                    "email": f"ap@{account.lower()}.example", "country": "US"}
        if phone:
            customer["phone"] = phone
        if segment:
            customer["segment"] = segment
        self.records: list[dict] = [customer]
        self.invoices: list[str] = []

    def invoice(self, issued: date, amount: str, *, terms: int = 30,
                currency: str | None = None) -> str:
        number = f"{self.account}-{len(self.invoices) + 1:04d}"
        self.invoices.append(number)
        self.records.append({
            "type": "invoice", "invoice_id": number, "customer_id": self.account,
            "issue_date": issued.isoformat(),
            "due_date": (issued + timedelta(days=terms)).isoformat(),
            "currency": currency or self.currency, "amount": amount,
        })
        return number

    def pay(self, on: date, amount: str, *invoices: str, reference: str | None = None,
            currency: str | None = None) -> None:
        self.records.append({
            "type": "payment", "customer_id": self.account, "date": on.isoformat(),
            "payment_id": reference or f"{self.account}-PAY-{len(self.records):04d}",
            "currency": currency or self.currency, "amount": amount,
            "invoice_ids": list(invoices),
        })

    def monthly(self, first: date, months: int, amount: str, *, late: dict | None = None,
                unpaid=(), partly: dict | None = None, terms: int = 30) -> list[str]:
        """Bills on *first*'s day of each month, due *terms* days later.

        Each is paid in full 2 to 5 days before its due date, except:
        ``late`` {index: days late}, ``unpaid`` indexes, and ``partly``
        {index: (amount, days after due)} paid in part.
        """
        late, partly = late or {}, partly or {}
        numbers = []
        for index in range(months):
            year, month = divmod(first.month - 1 + index, 12)
            issued = date(first.year + year, month + 1, first.day)
            number = self.invoice(issued, amount, terms=terms)
            numbers.append(number)
            due = issued + timedelta(days=terms)
            if index in partly:
                part, days = partly[index]
                self.pay(due + timedelta(days=days), part, number)
            elif index in late:
                self.pay(due + timedelta(days=late[index]), amount, number)
            elif index not in unpaid:
                self.pay(due - timedelta(days=2 + index % 4), amount, number)
        return numbers


def load(run, tmp_path: Path, *histories: History) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text("".join(json.dumps(record) + "\n"
                            for history in histories for record in history.records),
                    encoding="utf-8")
    result = run("import", str(path))
    assert result.exit_code == 0, result.stderr


def pay(
    run, tmp_path: Path, on: str, amount: str, reference: str,
    account: str = "BRICK", currency: str = "USD", invoices: tuple[str, ...] = (),
) -> str:
    """Import one payment of *account* by ``cobra import``, settling the
    *invoices* named (else on account, oldest first); what it said."""
    path = tmp_path / f"{reference}.jsonl"
    path.write_text(json.dumps({
        "type": "payment", "customer_id": account, "date": on,
        "payment_id": reference, "currency": currency, "amount": amount,
        "invoice_ids": list(invoices),
    }) + "\n")
    result = run("import", str(path))
    assert result.exit_code == 0, result.stderr
    return result.stderr


def database(run) -> sqlite3.Connection:
    conn = sqlite3.connect(run("db", "path").stdout.strip())
    conn.row_factory = sqlite3.Row
    return conn


def table_rows(run, table: str) -> list[dict]:
    """Every row of one of the store's tables, in the order written, as dicts."""
    conn = database(run)
    try:
        return [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY id")]
    finally:
        conn.close()


# -- Customers several test modules share -------------------------------------------


def good_payer() -> History:
    """Two years of bills paid, one 12 days late; May 2026's (1200.00) still open."""
    acme = History("ACME", "Acme Tools Inc.", segment="smb")
    acme.monthly(date(2024, 5, 1), 25, "1200.00", late={7: 12}, unpaid={24})
    return acme


def struggling() -> History:
    """Paid on time for a year, then partial payments and a growing pile of arrears."""
    brick = History("BRICK", "Brickwork Builders LLC", segment="enterprise")
    brick.monthly(date(2025, 1, 1), 17, "800.00",
                  partly={12: ("400.00", 38), 13: ("300.00", 20)}, unpaid={14, 15, 16})
    return brick
