"""An outbox full of queued messages, written straight into a real store.

Sending tests and benchmarks need many customers each with one message
ready to go; planning them through imports would test planning again and
take long. The rows are what ``cobra plan`` writes: a customer with an
address, an overdue invoice, and a queued, rendered message.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from cobra.store import Store

NOW = "2026-12-01T00:00:00+00:00"


def seed(
    db_path: Path,
    count: int,
    *,
    channel: str = "email",
    day: str = "2026-12-03",
    send_at: str | None = None,
    country: str = "US",
    timezone: str | None = "America/New_York",
    body: str = "Hola {name}: su factura {invoice} está vencida. Gracias.",
    first: int = 0,
) -> list[str]:
    """Queue *count* messages on *channel*; returns their idempotency keys."""
    kind = "email" if channel == "email" else "phone"
    due = (date.fromisoformat(day) - timedelta(days=10)).isoformat()
    issued = (date.fromisoformat(day) - timedelta(days=40)).isoformat()
    keys = []
    with Store.open(db_path) as store:
        conn = store.conn
        conn.execute("BEGIN")
        for number in range(first, first + count):
            account = f"C{number:06d}"
            name = f"Cliente {number} Ltda."
            customer = conn.execute(
                "INSERT INTO customers (account, name, language, country, timezone,"
                " created_at, updated_at) VALUES (?, ?, 'es', ?, ?, ?, ?)",
                (account, name, country, timezone, NOW, NOW),
            ).lastrowid
            address = (
                f"ap{number}@cliente{number}.example"
                if kind == "email"
                else f"+1212555{number % 10000:04d}"
            )
            conn.execute(
                "INSERT INTO contacts (customer_id, kind, value) VALUES (?, ?, ?)",
                (customer, kind, address),
            )
            invoice = f"F-{number:06d}"
            conn.execute(
                "INSERT INTO invoices (customer_id, number, issue_date, due_date,"
                " currency, amount, balance, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'USD', 120000, 120000, ?, ?)",
                (customer, invoice, issued, due, NOW, NOW),
            )
            key = f"{account}|friendly-reminder#1|{day}|{channel}"
            conn.execute(
                "INSERT INTO outbox (customer_id, planned_for, send_at, strategy, step,"
                " cycle, channel, template, tone, method, tactic, objective, reason,"
                " language, subject, body, state, idempotency_key, created_at)"
                " VALUES (?, ?, ?, 'friendly-reminder', 1, ?, ?, 'reminder-friendly',"
                " 'friendly', 'suggestion', 'personal_appeal', 'pay', 'forgot', 'es',"
                " ?, ?, 'queued', ?, ?)",
                (
                    customer,
                    day,
                    send_at,
                    due,
                    channel,
                    f"Factura {invoice} vencida",
                    body.format(name=name, invoice=invoice),
                    key,
                    NOW,
                ),
            )
            keys.append(key)
        conn.execute("COMMIT")
    return keys
