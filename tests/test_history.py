"""`cobra history`: the contact log in time order, for a regulator's request.

Messages are sent through `cobra send` (the file backend), replies and
delivery reports applied by cobra's receipts code, and interactions logged
by `cobra log`, into a real store.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from histories import good_payer, load
from outbox_seed import seed

from cobra.channels import Inbound, Receipt

DAY = "2026-12-03"
AT = "2026-12-03T11:00:00-05:00"  # 16:00 UTC
COLUMNS = [
    "at", "account", "customer", "direction", "channel", "kind", "outcome",
    "collector", "address", "subject", "text", "provider_id", "error", "ref",
]  # fmt: skip


@pytest.fixture
def new_york(isolated):
    (isolated / "cobra.toml").write_text(
        '[company]\ntimezone = "America/New_York"\n', encoding="utf-8"
    )


def db_path(run) -> Path:
    return Path(run("db", "path").stdout.strip())


def send(run, *args: str):
    result = run("send", "--for", DAY, "--at", AT, *args)
    assert result.exit_code == 0, result.stderr
    return result


def log(run, account: str, at: str, *args: str):
    result = run("log", account, "--outcome", "no_answer", "--at", at, *args)
    assert result.exit_code == 0, result.stderr


def reply(run, sender: str, text: str, received_at: str, **extra) -> None:
    from cobra import receipts
    from cobra.store import Store

    with Store.open(db_path(run)) as store:
        receipts.apply_inbound(
            store,
            Inbound(
                channel="email",
                sender=sender,
                text=text,
                received_at=received_at,
                provider_id=f"<{received_at}@mail.example>",
                **extra,
            ),
        )


def history(run, *args: str) -> list[dict]:
    result = run("history", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def dump(run) -> list[str]:
    with sqlite3.connect(db_path(run)) as conn:
        return list(conn.iterdump())


def test_messages_interactions_and_replies_in_the_order_they_happened(run, new_york):
    keys = seed(db_path(run), 2)
    send(run)  # both at 16:00 UTC
    # 16:30 UTC, stored by cobra log in UTC.
    log(run, "C000000", "2026-12-03T11:30:00-05:00", "--channel", "call",
        "--collector", "ana")  # fmt: skip
    # 17:15 UTC, stored with the provider's offset: as text it sorts before
    # the others ("12:15" < "16:..."); as an instant it comes after them.
    reply(run, "ap1@cliente1.example", "Pago el viernes.\n\nSaludos",
          "2026-12-03T12:15:00-05:00", in_reply_to=keys[1])  # fmt: skip

    rows = history(run, "--since", "2026-12-01")
    assert [row["ref"] for row in rows] == ["M1", "M2", "I1", "R1"]
    assert [row["at"][:19] for row in rows] == [
        "2026-12-03T11:00:00",
        "2026-12-03T11:00:00",
        "2026-12-03T11:30:00",
        "2026-12-03T12:15:00",
    ]
    assert all(row["at"].endswith("-05:00") for row in rows)  # company time

    message, _, call, answer = rows
    assert {k: message[k] for k in COLUMNS if k not in ("at", "provider_id")} == {
        "account": "C000000",
        "customer": "Cliente 0 Ltda.",
        "direction": "out",
        "channel": "email",
        "kind": "message",
        "outcome": "sent",
        "collector": None,
        "address": "ap0@cliente0.example",
        "subject": "Factura F-000000 vencida",
        "text": "Hola Cliente 0 Ltda.: su factura F-000000 está vencida. Gracias.",
        "error": None,
        "ref": "M1",
    }
    assert message["provider_id"].startswith("<cobra.")
    assert (call["kind"], call["direction"], call["channel"]) == (
        "interaction",
        None,
        "call",
    )
    assert (call["outcome"], call["collector"]) == ("no_answer", "ana")
    assert answer["kind"] == "reply" and answer["direction"] == "in"
    assert answer["outcome"] == "received"
    assert answer["address"] == "ap1@cliente1.example"
    assert answer["subject"] == "Factura F-000001 vencida"  # what it answers
    assert answer["text"] == "Pago el viernes.\n\nSaludos"
    assert answer["account"] == "C000001"


def test_a_reply_from_an_unknown_sender_is_kept_without_an_account(run):
    seed(db_path(run), 1)
    reply(run, "someone@elsewhere.example", "Wrong person", "2026-12-03T10:00:00Z")
    reply(run, "ap0@cliente0.example", "STOP", "2026-12-03T11:00:00Z")
    rows = history(run, "--since", DAY)
    assert [(r["account"], r["outcome"], r["text"]) for r in rows] == [
        (None, "received", "Wrong person"),
        ("C000000", "opt_out", "STOP"),
    ]
    assert [r["ref"] for r in history(run, "--since", DAY, "--account", "C000000")] == [
        "R2"
    ]


def test_days_are_the_company_s_and_until_includes_its_day(run, new_york):
    seed(db_path(run), 1)
    # 23:30 on 10 November in New York is already the 11th in UTC.
    log(run, "C000000", "2026-11-10T23:30:00-05:00")
    log(run, "C000000", "2026-11-11T23:59:00-05:00")
    log(run, "C000000", "2026-11-12T00:00:00-05:00")

    def refs(*args):
        return [row["ref"] for row in history(run, *args)]

    assert refs("--since", "2026-11-11") == ["I2", "I3"]
    assert refs("--since", "2026-11-01", "--until", "2026-11-10") == ["I1"]
    assert refs("--since", "2026-11-11", "--until", "2026-11-11") == ["I2"]
    assert refs("--since", "2026-11-13") == []
    empty = run("history", "--since", "2026-11-13")
    assert empty.exit_code == 0
    assert "No contacts from 2026-11-13 (America/New_York)." in empty.stderr


def test_every_message_tried_is_kept_and_none_that_never_left(run):
    from cobra import receipts
    from cobra.store import Store, outbox

    keys = seed(db_path(run), 5)
    seed(db_path(run), 1, channel="call", first=9)
    with sqlite3.connect(db_path(run)) as conn:
        conn.execute(
            "UPDATE contacts SET invalid_since = '2026-12-02'"
            " WHERE value = 'ap1@cliente1.example'"
        )
        conn.execute(
            "UPDATE invoices SET balance = 0, status = 'paid' WHERE number = 'F-000002'"
        )
    with Store.open(db_path(run)) as store:
        # The sender's record of a message a killed sender left behind.
        store.conn.execute(
            "UPDATE outbox SET state = 'sending', claimed_at = ? WHERE id = 4",
            ("2026-12-03T15:59:00+00:00",),
        )
        outbox.finish(
            store.conn, 4, "unknown", at=AT, reason="the sender stopped", backend="smtp"
        )
    send(run)
    with Store.open(db_path(run)) as store:
        receipts.apply_receipt(
            store,
            Receipt(key=keys[4], provider_id=None, state="failed",
                    detail="550 mailbox unavailable", invalid_address=True),
        )  # fmt: skip

    rows = history(run, "--since", "2026-12-01")
    assert {row["account"]: row["outcome"] for row in rows} == {
        "C000000": "sent",
        "C000003": "unknown",
        "C000004": "failed",
    }  # held (C000001), cancelled (C000002) and the call's task never left
    failed = next(row for row in rows if row["outcome"] == "failed")
    assert failed["error"] == "550 mailbox unavailable"
    unknown = next(row for row in rows if row["outcome"] == "unknown")
    assert unknown["at"] == "2026-12-03T15:59:00+00:00"  # when it was tried
    assert unknown["error"] == "the sender stopped"


def test_one_customer_s_log_as_csv(run, tmp_path, new_york):
    load(run, tmp_path, good_payer())
    seed(db_path(run), 1)
    send(run)
    log(run, "ACME", "2026-12-03T09:00:00-05:00", "--note", "Rang twice,\nno answer")
    log(run, "C000000", "2026-12-03T09:00:00-05:00")
    reply(run, "ap@acme.example", "Who is this?", "2026-12-03T10:00:00-05:00")

    result = run("history", "--since", DAY, "--account", "ACME", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames == COLUMNS
    rows = list(reader)
    assert [(r["kind"], r["account"]) for r in rows] == [
        ("interaction", "ACME"),
        ("reply", "ACME"),
    ]
    assert rows[0]["text"] == "Rang twice,\nno answer"  # whole, in one cell
    assert rows[0]["at"] == "2026-12-03T09:00:00-05:00"

    both = history(run, "--since", DAY, "--account", "ACME", "--account", "C000000")
    assert [r["account"] for r in both] == ["ACME", "C000000", "ACME", "C000000"]

    table = run("history", "--since", DAY, "--account", "ACME")
    assert table.stdout.splitlines()[0].split() == [
        "at", "account", "customer", "direction", "channel", "kind", "outcome",
        "collector", "text", "ref",
    ]  # fmt: skip
    assert "Rang twice, no answer" in table.stdout  # on one line


def test_the_log_outlives_a_sync_that_closes_the_customer_s_invoices(run, tmp_path):
    load(run, tmp_path, good_payer())
    log(run, "ACME", "2026-12-03T09:00:00+00:00")
    # The ledger no longer lists ACME's open invoice (written off, say).
    ledger = tmp_path / "other.jsonl"
    ledger.write_text(
        json.dumps({"type": "customer", "customer_id": "ZED", "name": "Zed Co"}) + "\n",
        encoding="utf-8",
    )
    synced = run("import", str(ledger), "--sync", "--force")
    assert synced.exit_code == 0, synced.stderr
    with sqlite3.connect(db_path(run)) as conn:
        (status,) = conn.execute(
            "SELECT status FROM invoices WHERE number = 'ACME-0025'"
        ).fetchone()
    assert status != "open"
    assert [r["ref"] for r in history(run, "--since", DAY)] == ["I1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "'yesterday' is not a date; write it as YYYY-MM-DD"),
        (["--since", "2026-13-01"], "'2026-13-01' is not a date"),
        ([], "Missing option '--since'"),
        (
            ["--since", DAY, "--until", "2026-12-01"],
            "--until 2026-12-01 is before --since 2026-12-03; nothing to export",
        ),
        (
            ["--since", DAY, "--account", "ACMEE"],
            "no customer with account 'ACMEE'; did you mean ACME?",
        ),
        (["--since", DAY, "--format", "xml"], "'xml' is not one of"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(run, tmp_path, args, message):
    load(run, tmp_path, good_payer())
    log(run, "ACME", "2026-12-03T09:00:00+00:00")
    before = dump(run)
    result = run("history", *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    assert dump(run) == before
