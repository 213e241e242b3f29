"""`cobra send`: the outbox's states, checks at send time, retries, crashes.

Messages go through the built-in file and task backends (real files, a real
SQLite agenda) or through tests/provider_backend.py, a stand-in provider
whose journal is its record of what it accepted. The real providers' own
backends are tested against real servers in test_channel_*.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from cobra_plugins.channel_file import file_name
from histories import History, load, struggling
from lookup_provider import plugin as lookup_plugin
from outbox_seed import seed
from provider_backend import _Stats, journal_keys, journal_records, plugin

from cobra import plugins

TESTS = Path(__file__).resolve().parent
DAY = "2026-12-03"
# Thursday 3 December 2026, 11:00 in New York: inside every US contact hour.
AT = "2026-12-03T11:00:00-05:00"


def db_path(run) -> Path:
    return Path(run("db", "path").stdout.strip())


def states(run) -> Counter:
    with sqlite3.connect(db_path(run)) as conn:
        return Counter(row[0] for row in conn.execute("SELECT state FROM outbox"))


def use_provider(tmp_path, work: Path, *, send_table=None, **options) -> Path:
    """Bind e-mail and SMS to the stand-in provider; returns its journal.

    *options* go in the channels' tables, *send_table* in ``[send]``.
    """
    if not plugins.get_plugins().manager.has_plugin("provider"):
        plugins.get_plugins().register(plugin, "provider")
    journal = tmp_path / "provider.jsonl"
    table = {"backend": "provider", "journal": str(journal), **options}
    sending = {
        "backoff_seconds": 0.01,
        "max_wait_seconds": 5,
        "max_attempts": 3,
        **(send_table or {}),
    }
    lines = ["[send]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in sending.items()]
    lines.append("")
    for channel in ("email", "sms"):
        lines.append(f"[channels.{channel}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
        lines.append("")
    (work / "cobra.toml").write_text("\n".join(lines), encoding="utf-8")
    return journal


def send(run, *args: str, at: str = AT):
    return run("send", "--for", DAY, "--at", at, *args)


# -- the file backend: the starter config's default ------------------------------


def test_due_messages_are_written_once_by_the_file_backend(run, tmp_path):
    keys = seed(db_path(run), 5)
    result = send(run)
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 5, failed 0, held 0, retried 0." in result.stderr

    folder = tmp_path / "home" / "outbox"
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 5
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"  # personal data
    text = files[0].read_text()
    assert "X-Cobra-Key: C000000|friendly-reminder#1|2026-12-03|email" in text
    assert "Content-Language: es" in text
    with sqlite3.connect(db_path(run)) as conn:
        rows = conn.execute(
            "SELECT idempotency_key, state, backend, address, provider_id, attempts"
            " FROM outbox ORDER BY id"
        ).fetchall()
    assert [r[0] for r in rows] == keys
    assert {(r[1], r[2], r[5]) for r in rows} == {("sent", "file", 1)}
    assert rows[0][3] == "ap0@cliente0.example"
    assert rows[0][4].startswith("<cobra.") and rows[0][4] in text  # its Message-ID

    again = send(run)
    assert "Send: sent 0" in again.stderr
    assert len(list(folder.glob("*.eml"))) == 5


def plan_a_late_payer(run, tmp_path) -> dict:
    """Import a good payer whose latest bill is a few days late and plan the
    day: returns the one contact, an SMS reminder (reminder-sms)."""
    late = History("ACME", "Acme Tools Inc.", phone="+12125550100")
    late.monthly(date(2024, 11, 1), 25, "1200.00", unpaid={24})
    load(run, tmp_path, late)
    planned = run("plan", "--for", DAY, "--format", "json")
    assert planned.exit_code == 0, planned.stderr
    [contact] = json.loads(planned.stdout)
    assert (contact["state"], contact["channel"]) == ("planned", "sms")
    return contact


def test_plan_then_send_delivers_what_was_planned(run, tmp_path):
    # The file backend writes the planned SMS as a JSON document.
    contact = plan_a_late_payer(run, tmp_path)

    result = send(run)
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 1" in result.stderr
    [path] = (tmp_path / "home" / "outbox").glob("*.json")
    document = json.loads(path.read_text())
    assert document["to"] == "+12125550100"
    assert (
        document["key"] == f"ACME|{contact['strategy']}#{contact['step'] - 1}|{DAY}|sms"
    )
    assert document["details"]["template"] == contact["template"]
    assert "Acme" in document["body"] or "ACME" in document["body"]


def test_a_call_becomes_a_task_with_its_brief_once(run, tmp_path):
    seed(db_path(run), 2, channel="call")
    result = send(run)
    assert result.exit_code == 0, result.stderr
    again = send(run)
    assert again.exit_code == 0
    with sqlite3.connect(db_path(run)) as conn:
        tasks = conn.execute(
            "SELECT kind, title, brief, source_key FROM tasks"
        ).fetchall()
        provider_ids = [r[0] for r in conn.execute("SELECT provider_id FROM outbox")]
    assert len(tasks) == 2
    assert tasks[0][0] == "call" and tasks[0][1] == "Call Cliente 0 Ltda. (C000000)"
    assert "está vencida" in tasks[0][2]
    assert all(pid.startswith("task:") for pid in provider_ids)


# -- checked again at the moment of sending --------------------------------------


def test_the_contact_rules_are_checked_again_at_send_time(run):
    # Planned for Saturday 19:55 in Chile; the sender runs at 20:05, after
    # the allowed hours: the message waits for Monday 08:00.
    seed(
        db_path(run),
        1,
        country="CL",
        timezone="America/Santiago",
        day="2026-12-05",
        send_at="2026-12-05T19:55:00-03:00",
    )
    late = run("send", "--for", "2026-12-05", "--at", "2026-12-05T20:05:00-03:00")
    assert late.exit_code == 0, late.stderr
    assert "waiting for an allowed time 1" in late.stderr
    with sqlite3.connect(db_path(run)) as conn:
        send_at, state, error = conn.execute(
            "SELECT send_at, state, error FROM outbox"
        ).fetchone()
    assert state == "queued"
    assert send_at == "2026-12-07T11:00:00+00:00"  # Monday 08:00 in Santiago
    assert "outside the contact hours" in error

    sunday = run("send", "--for", "2026-12-06", "--at", "2026-12-06T12:00:00-03:00")
    assert "Send: sent 0" in sunday.stderr
    monday = run("send", "--for", "2026-12-07", "--at", "2026-12-07T08:01:00-03:00")
    assert "Send: sent 1" in monday.stderr


def test_a_customer_who_paid_since_the_plan_is_not_contacted(run):
    seed(db_path(run), 2)
    with sqlite3.connect(db_path(run)) as conn:
        conn.execute(
            "UPDATE invoices SET balance = 0, status = 'paid' WHERE number = 'F-000000'"
        )
    result = send(run)
    assert result.exit_code == 0
    assert "cancelled (nothing owed) 1" in result.stderr
    assert states(run) == Counter(sent=1, cancelled=1)


def test_opt_outs_disputes_and_bad_addresses_since_the_plan_hold_the_message(run):
    seed(db_path(run), 4)
    with sqlite3.connect(db_path(run)) as conn:
        conn.execute(
            "INSERT INTO opt_outs (customer_id, channel, since)"
            " SELECT id, 'email', '2026-12-02' FROM customers"
            " WHERE account = 'C000000'"
        )
        conn.execute(
            "UPDATE invoices SET disputed_since = '2026-12-02'"
            " WHERE number = 'F-000001'"
        )
        conn.execute(
            "UPDATE contacts SET invalid_since = '2026-12-02'"
            " WHERE value = 'ap2@cliente2.example'"
        )
    result = send(run)
    assert result.exit_code == 0
    assert "Send: sent 1, failed 0, held 3" in result.stderr
    with sqlite3.connect(db_path(run)) as conn:
        reasons = [
            r[0]
            for r in conn.execute(
                "SELECT hold_reason FROM outbox WHERE state = 'held' ORDER BY id"
            )
        ]
    assert reasons == [
        "opted out of email",
        "every overdue invoice is disputed",
        "no valid email for email",
    ]


def test_a_message_empty_after_rendering_fails_and_names_the_template(run):
    seed(db_path(run), 1, body="   \n ")
    result = send(run)
    assert result.exit_code == 1
    assert "failed 1" in result.stderr
    with sqlite3.connect(db_path(run)) as conn:
        state, error = conn.execute("SELECT state, error FROM outbox").fetchone()
    assert state == "failed"
    assert "empty after rendering template 'reminder-friendly'" in error


def test_a_template_that_renders_blank_is_planned_then_failed_at_send(
    run, tmp_path, isolated
):
    # The team's own SMS reminder says something only to Chilean customers;
    # Acme is in the United States, so its message renders blank. The plan
    # still writes the contact (one customer's blank text must not stop the
    # day's plan for everyone), without the opt-out line that would
    # otherwise be all the message said; `cobra send` then fails it, naming
    # the template, sends nothing, and exits 1.
    mine = isolated / "templates" / "en"
    mine.mkdir(parents=True)
    (mine / "reminder-sms.j2").write_text(
        "description: Reminder for Chilean customers only.\n"
        "channel: sms\n"
        "\n"
        '{% if country == "CL" %}\n'
        "{{ company }}: su factura {{ invoices[0].number }} está vencida.\n"
        "{% endif %}\n"
        "   \n",
        encoding="utf-8",
    )
    (isolated / "cobra.toml").write_text('[messages]\ntemplates_dir = "templates"\n')
    contact = plan_a_late_payer(run, tmp_path)
    assert (contact["template"], contact["preview"]) == ("reminder-sms", "")

    result = send(run)
    assert result.exit_code == 1
    assert "Send: sent 0, failed 1" in result.stderr
    assert (
        "ACME: the message is empty after rendering template 'reminder-sms'"
        in result.stderr
    )
    with sqlite3.connect(db_path(run)) as conn:
        state, error, sent_at = conn.execute(
            "SELECT state, error, sent_at FROM outbox"
        ).fetchone()
    assert (state, sent_at) == ("failed", None)
    assert error == (
        "the message is empty after rendering template 'reminder-sms'; fix the "
        "template and plan again"
    )
    assert not (isolated / "outbox").exists()  # the file backend wrote nothing


# -- retries, permanent errors, setup errors --------------------------------------


def test_transient_errors_are_retried_with_backoff_until_accepted(
    run, tmp_path, isolated
):
    journal = use_provider(tmp_path, isolated, fail_first=2)
    seed(db_path(run), 3)
    result = send(run)
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 3, failed 0, held 0, retried 6." in result.stderr
    assert sorted(Counter(journal_keys(journal)).values()) == [1, 1, 1]
    with sqlite3.connect(db_path(run)) as conn:
        attempts = {r[0] for r in conn.execute("SELECT attempts FROM outbox")}
        events = [
            r[0]
            for r in conn.execute(
                "SELECT state FROM outbox_events WHERE outbox_id = 1 ORDER BY id"
            )
        ]
    assert attempts == {3}
    assert events == ["queued", "queued"]  # then sent: sent_at and provider_id


def retry_delays(run) -> dict[int, float]:
    """Each queued message's wait before its next attempt, in seconds, as the
    sender set it: from its last event to its ``next_attempt_at``."""
    with sqlite3.connect(db_path(run)) as conn:
        rows = conn.execute(
            "SELECT o.id, o.next_attempt_at, MAX(e.at) FROM outbox o"
            " JOIN outbox_events e ON e.outbox_id = o.id"
            " WHERE o.state = 'queued' GROUP BY o.id"
        ).fetchall()
    return {
        number: (
            datetime.fromisoformat(due) - datetime.fromisoformat(at)
        ).total_seconds()
        for number, due, at in rows
    }


def test_the_backoff_doubles_with_jitter_up_to_its_maximum(run, tmp_path, isolated):
    # One attempt per run (no waiting for a retry within it), each run acting
    # at the moment the last one set, so every delay is read exactly.
    use_provider(
        tmp_path,
        isolated,
        fail_first=99,
        send_table={
            "backoff_seconds": 60,
            "max_backoff_seconds": 600,
            "max_attempts": 9,
            "max_wait_seconds": 0,
        },
    )
    seed(db_path(run), 4)
    at = datetime.fromisoformat(AT)
    seen = []
    for attempt in range(1, 8):
        result = send(run, at=at.isoformat())
        assert result.exit_code == 0, result.stderr
        assert "retried 4" in result.stderr
        delays = retry_delays(run)
        assert len(delays) == 4
        # 60 s doubled each attempt, capped at 600 s, times a random 50-100%.
        full = min(600, 60 * 2 ** (attempt - 1))
        for delay in delays.values():
            assert full / 2 <= delay <= full + 1, (attempt, delay)
        seen.append(sorted(delays.values()))
        at += timedelta(seconds=max(delays.values()) + 1)
    # The messages do not all come back at the same moment.
    assert all(len({round(d, 3) for d in attempt}) > 1 for attempt in seen)
    # Past the cap, the waits stop growing: 600 s at most, not 3840 s.
    assert max(seen[-1]) <= 601


def test_a_providers_retry_after_is_honoured(run, tmp_path, isolated):
    # The provider asks for 15 minutes, longer than cobra's own backoff and
    # its cap: its word wins, and the message waits for it.
    journal = use_provider(
        tmp_path,
        isolated,
        fail_first=1,
        retry_after=900,
        send_table={"backoff_seconds": 1, "max_backoff_seconds": 60},
    )
    [key] = seed(db_path(run), 1)
    first = send(run)
    assert first.exit_code == 0, first.stderr
    assert "Send: sent 0, failed 0, held 0, retried 1." in first.stderr
    [delay] = retry_delays(run).values()
    assert 900 <= delay <= 901

    start = datetime.fromisoformat(AT)
    early = send(run, at=(start + timedelta(seconds=850)).isoformat())
    assert "Send: sent 0" in early.stderr and journal_keys(journal) == []
    later = send(run, at=(start + timedelta(seconds=905)).isoformat())
    assert "Send: sent 1" in later.stderr and journal_keys(journal) == [key]


def test_a_message_out_of_attempts_fails_and_the_run_exits_1(run, tmp_path, isolated):
    journal = use_provider(tmp_path, isolated, fail_first=10)
    seed(db_path(run), 1)
    result = send(run)
    assert result.exit_code == 1
    assert "failed 1" in result.stderr
    assert journal_keys(journal) == []
    with sqlite3.connect(db_path(run)) as conn:
        state, error = conn.execute("SELECT state, error FROM outbox").fetchone()
    assert state == "failed"
    assert error == "gave up after 3 attempts: provider refused attempt 3"


def test_a_rejected_address_fails_once_and_is_marked_invalid(run, tmp_path, isolated):
    use_provider(tmp_path, isolated, fail_first=1, error="invalid")
    seed(db_path(run), 1)
    result = send(run)
    assert result.exit_code == 1
    with sqlite3.connect(db_path(run)) as conn:
        state, attempts = conn.execute("SELECT state, attempts FROM outbox").fetchone()
        invalid = conn.execute(
            "SELECT invalid_since, invalid_reason FROM contacts"
        ).fetchone()
    assert (state, attempts) == ("failed", 1)
    assert invalid[0] and "no such recipient" in invalid[1]


def test_a_setup_error_leaves_the_channel_queued_and_says_what_to_fix(
    run, tmp_path, isolated
):
    use_provider(tmp_path, isolated, fail_first=99, error="setup")
    seed(db_path(run), 4)
    result = send(run)
    assert result.exit_code == 1
    assert "error: channel email: login refused: check password_env" in result.stderr
    assert states(run) == Counter(queued=4)
    with sqlite3.connect(db_path(run)) as conn:
        assert {r[0] for r in conn.execute("SELECT attempts FROM outbox")} == {0}


def test_a_lost_answer_is_never_retried_blindly(run, tmp_path, isolated):
    # The provider took the message but its answer never came (a timeout
    # after sending): resending could text the customer twice.
    journal = use_provider(tmp_path, isolated, fail_first=1, error="unknown")
    [key] = seed(db_path(run), 1)
    result = send(run)
    assert result.exit_code == 0
    assert "may or may not have reached the customer" in result.stderr
    assert journal_keys(journal) == [key]
    with sqlite3.connect(db_path(run)) as conn:
        state, error = conn.execute("SELECT state, error FROM outbox").fetchone()
    assert state == "unknown"
    assert error.startswith("no answer within the timeout after sending: the provider")
    assert "Send: sent 0" in send(run).stderr  # a plain re-run leaves it alone
    resend = send(run, "--retry-unknown")
    assert "resent on request 1" in resend.stderr and "sent 1" in resend.stderr
    assert journal_keys(journal) == [key, key]


def test_a_person_confirms_an_unknown_message_arrived(run, tmp_path, isolated):
    journal = use_provider(tmp_path, isolated, fail_first=1, error="unknown")
    seed(db_path(run), 1)
    send(run)
    assert states(run) == Counter(unknown=1)
    bad = run("send", "--confirm-sent", "M7")
    assert bad.exit_code == 2 and "message M7 does not exist" in bad.stderr
    confirmed = run("send", "--confirm-sent", "M1")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert states(run) == Counter(sent=1)
    again = run("send", "--confirm-sent", "m1")
    assert again.exit_code == 2 and "message M1 is sent" in again.stderr
    assert "Send: sent 0" in send(run, "--retry-unknown").stderr
    assert len(journal_keys(journal)) == 1  # never sent a second time


def outbox_by_channel(run) -> Counter:
    with sqlite3.connect(db_path(run)) as conn:
        return Counter(conn.execute("SELECT channel, state FROM outbox").fetchall())


def test_limit_sends_at_most_n_messages_and_leaves_the_rest_queued(run, tmp_path):
    seed(db_path(run), 5)
    first = send(run, "--limit", "2")
    assert first.exit_code == 0, first.stderr
    assert "Send: sent 2, failed 0" in first.stderr
    assert states(run) == Counter(sent=2, queued=3)
    assert len(list((tmp_path / "home" / "outbox").glob("*.eml"))) == 2

    second = send(run, "--limit", "2")
    assert "Send: sent 2" in second.stderr
    assert states(run) == Counter(sent=4, queued=1)
    assert "Send: sent 1" in send(run, "--limit", "2").stderr


def test_limit_holds_with_more_workers_than_messages_allowed(run, tmp_path, isolated):
    journal = use_provider(tmp_path, isolated, concurrency=8, delay=0.02)
    seed(db_path(run), 10)
    result = send(run, "--limit", "3")
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 3" in result.stderr
    assert len(journal_keys(journal)) == 3
    assert states(run) == Counter(sent=3, queued=7)


def test_limit_must_be_a_positive_number(run):
    result = run("send", "--limit", "0")
    assert result.exit_code == 2
    assert "0 is not in the range x>=1" in result.stderr


def test_channel_sends_only_that_channel(run, tmp_path):
    seed(db_path(run), 2)
    seed(db_path(run), 3, channel="sms", first=2)
    result = send(run, "--channel", "sms")
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 3, failed 0" in result.stderr
    assert outbox_by_channel(run) == Counter(
        {("sms", "sent"): 3, ("email", "queued"): 2}
    )
    folder = tmp_path / "home" / "outbox"
    assert len(list(folder.glob("*.json"))) == 3 and not list(folder.glob("*.eml"))

    email = send(run, "--channel", "email")
    assert "Send: sent 2" in email.stderr
    assert outbox_by_channel(run) == Counter({("sms", "sent"): 3, ("email", "sent"): 2})


def test_channel_ignores_a_problem_of_another_channel(run, isolated):
    # sms is bound to a backend that is not installed: sending only e-mail
    # neither tries it nor fails for it; asking for sms names the problem.
    (isolated / "cobra.toml").write_text('[channels.sms]\nbackend = "kannell"\n')
    seed(db_path(run), 2)
    seed(db_path(run), 1, channel="sms", first=2)
    result = send(run, "--channel", "email")
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 2" in result.stderr and "kannell" not in result.stderr
    assert outbox_by_channel(run) == Counter(
        {("email", "sent"): 2, ("sms", "queued"): 1}
    )

    sms = send(run, "--channel", "sms")
    assert sms.exit_code == 2
    assert "channels.sms.backend: no channel backend 'kannell'" in sms.stderr


def test_an_unknown_channel_is_bad_usage(run):
    result = run("send", "--channel", "pigeon")
    assert result.exit_code == 2
    assert "unknown channel 'pigeon'" in result.stderr


def test_a_backend_that_is_not_installed_is_named_and_other_channels_still_send(
    run, isolated
):
    (isolated / "cobra.toml").write_text('[channels.sms]\nbackend = "kannell"\n')
    seed(db_path(run), 2)
    result = send(run)
    assert result.exit_code == 1
    assert (
        "channels.sms.backend: no channel backend 'kannell' is installed"
        in result.stderr
    )
    assert "Send: sent 2" in result.stderr


def test_workers_send_concurrently_up_to_the_channel_limit(run, tmp_path, isolated):
    journal = use_provider(tmp_path, isolated, delay=0.05, concurrency=3)
    _Stats.most = 0
    seed(db_path(run), 12)
    result = send(run)
    assert result.exit_code == 0, result.stderr
    assert len(journal_keys(journal)) == 12
    assert _Stats.most == 3


def test_the_rate_limit_spaces_the_messages(run, tmp_path, isolated):
    journal = use_provider(tmp_path, isolated, rate_limit=20, concurrency=1)
    seed(db_path(run), 6)
    assert send(run).exit_code == 0
    times = [record["at"] for record in journal_records(journal)]
    # 20 a second: a slot every 50 ms, counted from the first message. A late
    # wake-up on a busy machine shortens the gap after it (the slots stay on
    # the clock), so only the time since the first message is bounded: the
    # n-th message never goes before its slot. The 10 ms allow for the work
    # between the first slot and the backend's call.
    for n, at in enumerate(times):
        assert at - times[0] >= n * 0.05 - 0.01, (n, at - times[0])


def test_the_rate_limit_holds_across_concurrent_workers(run, tmp_path, isolated):
    # Four workers wait for a slot at once: each takes the next one in turn,
    # so together they still send 20 a second, never a burst of four.
    # Each send takes 0.1 s, two slots, so the workers overlap.
    journal = use_provider(tmp_path, isolated, rate_limit=20, concurrency=4, delay=0.1)
    _Stats.most = 0
    seed(db_path(run), 12)
    assert send(run).exit_code == 0
    times = sorted(record["at"] for record in journal_records(journal))
    assert len(times) == 12
    # As above, only the time since the first message is bounded.
    for n, at in enumerate(times):
        assert at - times[0] >= n * 0.05 - 0.01, (n, at - times[0])
    assert _Stats.most > 1  # the workers did send side by side


# -- a backend that sends in batches ------------------------------------------------


def outbox_rows(run) -> dict[str, tuple]:
    """Each message's (state, attempts, provider id, error), by account."""
    with sqlite3.connect(db_path(run)) as conn:
        return {
            key.partition("|")[0]: tuple(rest)
            for key, *rest in conn.execute(
                "SELECT idempotency_key, state, attempts, provider_id, error"
                " FROM outbox"
            )
        }


def test_a_batching_backend_gets_every_message_once_in_batches(run, tmp_path, isolated):
    journal = use_provider(
        tmp_path, isolated, backend="provider-batch", concurrency=3, delay=0.02
    )
    _Stats.most = 0
    keys = seed(db_path(run), 95)
    result = send(run)
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 95, failed 0, held 0, retried 0." in result.stderr
    assert sorted(journal_keys(journal)) == sorted(keys)  # each exactly once
    sizes = Counter(line["batch"] for line in journal_records(journal)).values()
    assert max(sizes) == 10 and len(sizes) < 20  # batches, never over 10
    assert _Stats.most > 1  # batches went side by side
    # Each message's own answer was recorded against it, not its neighbour's.
    with sqlite3.connect(db_path(run)) as conn:
        ids = conn.execute("SELECT id, provider_id, attempts FROM outbox").fetchall()
    assert all(pid == f"P-{number}" and tries == 1 for number, pid, tries in ids)


def test_a_permanent_error_in_a_batch_fails_only_that_message(run, tmp_path, isolated):
    journal = use_provider(
        tmp_path,
        isolated,
        backend="provider-batch",
        fail_first=1,
        error="invalid",
        only=["C000003"],
    )
    seed(db_path(run), 10)
    result = send(run)
    assert result.exit_code == 1
    assert "Send: sent 9, failed 1, held 0, retried 0." in result.stderr
    rows = outbox_rows(run)
    assert rows.pop("C000003")[:2] == ("failed", 1)
    assert {row[:2] for row in rows.values()} == {("sent", 1)}
    assert len({line["batch"] for line in journal_records(journal)}) == 1  # one request
    assert len(journal_keys(journal)) == 9
    with sqlite3.connect(db_path(run)) as conn:
        invalid = conn.execute(
            "SELECT value, invalid_reason FROM contacts WHERE invalid_since IS NOT NULL"
        ).fetchall()
    assert invalid == [
        ("ap3@cliente3.example", "provider refused attempt 1: no such recipient")
    ]


def test_a_transient_error_in_a_batch_retries_that_message_alone(
    run, tmp_path, isolated
):
    journal = use_provider(
        tmp_path,
        isolated,
        backend="provider-batch",
        fail_first=1,
        error="transient",
        only=["C000004"],
    )
    keys = seed(db_path(run), 10)
    result = send(run)
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 10, failed 0, held 0, retried 1." in result.stderr
    assert sorted(journal_keys(journal)) == sorted(keys)
    batches = Counter(line["batch"] for line in journal_records(journal))
    assert sorted(batches.values()) == [1, 9]  # the retry went on its own
    rows = outbox_rows(run)
    assert rows.pop("C000004")[:2] == ("sent", 2)
    assert {row[:2] for row in rows.values()} == {("sent", 1)}


@pytest.mark.parametrize(
    ("fault", "reached", "error"),
    [
        ("lost", 30, "no answer within the timeout after the batch"),
        ("crash", 25, "the batch broke off: ConnectionResetError: the provider"),
        ("short", 30, "answered 9 results for a batch of 10, so which went"),
    ],
)
def test_a_batch_whose_outcome_is_lost_marks_its_messages_unknown(
    run, tmp_path, isolated, fault, reached, error
):
    # Three batches of ten, one at a time; the second goes wrong. Some or all
    # of it reached the provider, and cobra cannot tell which: all ten wait
    # for a person, none is sent again on its own.
    journal = use_provider(
        tmp_path,
        isolated,
        backend="provider-batch",
        concurrency=1,
        batch_fault=fault,
        batch_fault_for="C000012",
    )
    keys = seed(db_path(run), 30)
    result = send(run)
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 20, failed 0" in result.stderr
    assert "10 messages were interrupted while sending" in result.stderr
    assert len(journal_keys(journal)) == reached
    assert max(Counter(journal_keys(journal)).values()) == 1
    rows = outbox_rows(run)
    unknown = {account for account, row in rows.items() if row[0] == "unknown"}
    assert unknown == {f"C{n:06d}" for n in range(10, 20)}
    assert all(error in rows[account][3] for account in unknown)

    again = send(run)
    assert "Send: sent 0" in again.stderr
    assert len(journal_keys(journal)) == reached
    resend = send(run, "--retry-unknown")
    assert "resent on request 10" in resend.stderr and "sent 10" in resend.stderr
    assert len(journal_keys(journal)) == reached + 10
    assert set(journal_keys(journal)) == set(keys)
    assert states(run) == Counter(sent=30)


def _attempts_made(journal: Path) -> Counter:
    """How many times the stand-in provider was handed each key."""
    return Counter(journal_keys(journal.with_suffix(".attempts")))


@pytest.mark.parametrize(
    ("backend", "options", "error"),
    [
        # Refused by a backend that does not class the error: a batch that
        # raises a plain error may have been cut off after part of it went.
        (
            "provider-batch-replay",
            {"down": "refused"},
            "the batch broke off: ConnectionRefusedError",
        ),
        # One message at a time, each request timing out after it went out.
        (
            "provider-replay",
            {"fail_first": 99, "error": "unknown"},
            "no answer within the timeout after sending",
        ),
    ],
    ids=["batch", "single"],
)
def test_an_outcome_never_known_is_resent_until_max_attempts_then_left_unknown(
    run, tmp_path, isolated, backend, options, error
):
    # The receiver drops duplicates, so sending again is safe, but a provider
    # that never answers must not be asked forever: each unknown outcome is
    # an attempt, retried after a backoff, and after send.max_attempts (3)
    # the message waits for a person. A separate process, so a sender that
    # loops fails the test at the timeout instead of hanging it.
    journal = use_provider(
        tmp_path, isolated, backend=backend, concurrency=1, **options
    )
    keys = seed(db_path(run), 10)  # a full batch: claimed again at once
    sender = _cobra_with_provider(
        "send", "--for", DAY, "--at", AT, cwd=isolated, home=tmp_path / "home"
    )
    try:
        _, err = sender.communicate(timeout=60)
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.communicate()
    assert sender.returncode == 0, err
    assert "10 messages were interrupted while sending" in err
    assert _attempts_made(journal) == Counter({key: 3 for key in keys})
    rows = outbox_rows(run)
    assert {row[:2] for row in rows.values()} == {("unknown", 3)}
    for row in rows.values():
        assert row[3].startswith(error), row[3]
        assert (
            "the receiver drops duplicates, but 3 attempts (send.max_attempts)"
            in (row[3])
        )
    with sqlite3.connect(db_path(run)) as conn:
        retried = conn.execute(
            "SELECT COUNT(*) FROM outbox_events WHERE state = 'queued'"
        ).fetchone()[0]
        # Each retry waited for its backoff, as after a transient error.
        backoffs = conn.execute(
            "SELECT COUNT(*) FROM outbox o WHERE o.next_attempt_at > (SELECT"
            " MAX(e.at) FROM outbox_events e WHERE e.outbox_id = o.id"
            " AND e.state = 'queued')"
        ).fetchone()[0]
    assert (retried, backoffs) == (20, 10)  # two retries each

    # A plain re-run leaves them to the person.
    again = send(run)
    assert "Send: sent 0" in again.stderr
    assert _attempts_made(journal) == Counter({key: 3 for key in keys})


def test_a_batch_refused_as_a_transient_error_is_retried_then_fails(
    run, tmp_path, isolated
):
    # The backend knows a refused connection sent nothing and says so: the
    # batch is retried after the backoff, not settled as an outcome unknown,
    # and after send.max_attempts its messages fail.
    journal = use_provider(
        tmp_path, isolated, backend="provider-batch", concurrency=1, down="transient"
    )
    keys = seed(db_path(run), 10)
    result = send(run)
    assert result.exit_code == 1
    assert "Send: sent 0, failed 10, held 0, retried 20." in result.stderr
    assert "interrupted while sending" not in result.stderr
    assert _attempts_made(journal) == Counter({key: 3 for key in keys})
    assert set(outbox_rows(run).values()) == {
        (
            "failed",
            3,
            None,
            (
                "gave up after 3 attempts: the provider is down: [Errno 111] "
                "Connection refused"
            ),
        )
    }


def test_a_batch_of_n_takes_n_places_under_the_rate_limit(run, tmp_path, isolated):
    # 20 a second and batches of 10: a batch every half second, not every
    # 50 ms as if a batch were one message.
    journal = use_provider(
        tmp_path, isolated, backend="provider-batch", rate_limit=20, concurrency=1
    )
    seed(db_path(run), 30)
    assert send(run).exit_code == 0
    handed = sorted({line["at"] for line in journal_records(journal)})
    assert len(handed) == 3
    for n, at in enumerate(handed):
        assert at - handed[0] >= n * 10 * 0.05 - 0.01, (n, at - handed[0])


def test_dry_run_lists_what_would_go_and_changes_nothing(run):
    seed(db_path(run), 2, country="CL", timezone="America/Santiago")
    result = run(
        "send",
        "--for",
        DAY,
        "--at",
        "2026-12-03T21:00:00-03:00",
        "--dry-run",
        "--format",
        "json",
    )
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["rules"] for r in rows] == ["waits until 2026-12-04T08:00:00-03:00"] * 2
    assert rows[0]["to"] == "ap0@cliente0.example"
    assert states(run) == Counter(queued=2)


def test_at_needs_an_offset(run):
    result = run("send", "--at", "2026-12-03T10:00:00")
    assert result.exit_code == 2
    assert "not an instant with a UTC offset" in result.stderr


# -- processes at once, and a process killed halfway ------------------------------


def _cobra_with_provider(
    *args: str, cwd: Path, home: Path, script: str = "provider_backend.py"
) -> subprocess.Popen:
    env = {**os.environ, "COBRA_HOME": str(home), "PYTHONPATH": str(TESTS)}
    return subprocess.Popen(
        [sys.executable, str(TESTS / script), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_senders_at_once_never_send_the_same_message(run, tmp_path, isolated):
    journal = use_provider(tmp_path, isolated, delay=0.002, concurrency=2)
    keys = seed(db_path(run), 300)
    home = tmp_path / "home"
    first = _cobra_with_provider(
        "send", "--for", DAY, "--at", AT, cwd=isolated, home=home
    )
    second = _cobra_with_provider(
        "send", "--for", DAY, "--at", AT, cwd=isolated, home=home
    )
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert first.returncode == second.returncode == 0, outputs
    sent = journal_keys(journal)
    assert sorted(sent) == sorted(keys)  # each exactly once
    pids = Counter(record["pid"] for record in journal_records(journal))
    assert len(pids) == 2, "both senders should have sent a share"
    assert states(run) == Counter(sent=300)


def _wait_while_running(process: subprocess.Popen, done, timeout: float = 60) -> None:
    """Poll *done* until it is true; fail if *process* ends first or it takes
    longer than *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)


def _kill_halfway(journal: Path, process: subprocess.Popen, after: int) -> None:
    _wait_while_running(process, lambda: len(journal_keys(journal)) >= after)
    process.send_signal(signal.SIGKILL)
    process.communicate()


@pytest.mark.parametrize(
    ("backend", "batch_size", "delay"),
    [("provider", 1, 0.001), ("provider-batch", 10, 0.02)],
)
def test_a_sender_killed_mid_batch_sends_nothing_twice_and_loses_nothing(
    run, tmp_path, isolated, backend, batch_size, delay
):
    # A provider cobra cannot ask about a message: what was in flight when
    # the sender died is marked unknown for a person, never resent blindly.
    # With a batching backend, whole batches were in flight.
    journal = use_provider(
        tmp_path, isolated, backend=backend, delay=delay, concurrency=4
    )
    keys = seed(db_path(run), 1000)
    home = tmp_path / "home"
    sender = _cobra_with_provider(
        "send", "--for", DAY, "--at", AT, cwd=isolated, home=home
    )
    _kill_halfway(journal, sender, after=300)

    again = _cobra_with_provider(
        "send", "--for", DAY, "--at", AT, cwd=isolated, home=home
    )
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err

    accepted = Counter(journal_keys(journal))
    assert max(accepted.values()) == 1, "a message was sent twice"
    with sqlite3.connect(db_path(run)) as conn:
        rows = dict(conn.execute("SELECT idempotency_key, state FROM outbox"))
    assert set(rows) == set(keys)
    unknown = {key for key, state in rows.items() if state == "unknown"}
    assert set(rows.values()) <= {"sent", "unknown"}
    assert len(unknown) <= 4 * batch_size  # at most a batch a worker in flight
    assert {key for key, state in rows.items() if state == "sent"} <= set(accepted)
    assert set(accepted) - unknown == {k for k, s in rows.items() if s == "sent"}
    if unknown:
        assert "may or may not have reached the customer" in err
        # A person checked: resending on request sends exactly those.
        before = len(accepted)
        resend = _cobra_with_provider(
            "send", "--for", DAY, "--at", AT, "--retry-unknown", cwd=isolated, home=home
        )
        _, err = resend.communicate(timeout=60)
        assert resend.returncode == 0, err
        assert len(journal_keys(journal)) == before + len(unknown)
        assert states(run) == Counter(sent=1000)


def _kill_between_write_and_record(
    sender: subprocess.Popen, database: Path, folder: Path
) -> str:
    """SIGKILL the file backend's sender once it wrote a message's file but
    has not recorded it as sent; returns that message's key.

    The test holds the database's write lock, which stops the sender at its
    next write. When a message is in ``sending`` then, the sender writes its
    file and waits to record it: the window a crash must survive. Otherwise
    it was about to claim: let it go on, and try again.
    """
    lock = sqlite3.connect(database, isolation_level=None, timeout=30)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            assert sender.poll() is None, sender.communicate()
            lock.execute("BEGIN IMMEDIATE")
            claimed = lock.execute(
                "SELECT idempotency_key FROM outbox WHERE state = 'sending'"
            ).fetchall()
            if claimed:
                [(key,)] = claimed  # the file backend sends one at a time
                written = folder / file_name(key, ".eml")
                while not written.exists():
                    assert time.monotonic() < deadline and sender.poll() is None
                    time.sleep(0.001)
                sender.send_signal(signal.SIGKILL)
                sender.communicate()
                return key
            lock.execute("ROLLBACK")
            time.sleep(0.005)
        raise AssertionError("never caught the sender with a message in flight")
    finally:
        lock.close()  # ends the transaction: the lock is free again


def test_a_killed_sender_with_a_backend_that_can_look_up_loses_and_repeats_nothing(
    run, tmp_path
):
    # The file backend names each file after its key, so a second copy would
    # replace the first without a trace in the folder. Each file's inode and
    # modification time tell instead: a second write is a new file renamed
    # over the old one.
    keys = seed(db_path(run), 1000)
    home = tmp_path / "home"
    folder = home / "outbox"
    env = {**os.environ, "COBRA_HOME": str(home)}
    sender = subprocess.Popen(
        [sys.executable, "-m", "cobra", "send", "--for", DAY, "--at", AT],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_while_running(
        sender, lambda: folder.exists() and len(list(folder.glob("*.eml"))) >= 300
    )
    in_flight = _kill_between_write_and_record(sender, db_path(run), folder)
    assert states(run)["sending"] == 1  # written, but not recorded
    written = {
        path.name: (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in folder.glob("*.eml")
    }
    assert file_name(in_flight, ".eml") in written

    again = subprocess.run(
        [sys.executable, "-m", "cobra", "send", "--for", DAY, "--at", AT],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    files = {path.name: path for path in folder.glob("*.eml")}
    assert set(files) == {file_name(key, ".eml") for key in keys}
    assert not list(folder.glob("*.partial"))
    rewritten = [
        name
        for name, seen in written.items()
        if (files[name].stat().st_ino, files[name].stat().st_mtime_ns) != seen
    ]
    assert rewritten == [], "a message was written a second time"
    assert states(run) == Counter(sent=1000)
    with sqlite3.connect(db_path(run)) as conn:
        attempts, provider_id = conn.execute(
            "SELECT attempts, provider_id FROM outbox WHERE idempotency_key = ?",
            (in_flight,),
        ).fetchone()
    # Found by its key after the crash, not claimed and written again.
    assert attempts == 1 and provider_id.startswith("<cobra.")


def _kill_with_one_in_flight(
    tmp_path, work: Path, run, *, taken: bool, lookup_error: bool = False
) -> tuple[Path, list[str], str]:
    """Three messages to the provider-lookup stand-in; its sender is killed
    with the first in ``sending``, which the provider has already taken
    (*taken*) or not yet; then the channel is set up again for the re-run,
    its lookup failing when *lookup_error*.

    Returns the journal, every key, and the key of the message in flight.
    """
    pause = {"pause_after": 60} if taken else {"delay": 60}
    journal = use_provider(tmp_path, work, backend="provider-lookup", **pause)
    keys = seed(db_path(run), 3)
    sender = _cobra_with_provider(
        "send", "--for", DAY, "--at", AT,
        cwd=work, home=tmp_path / "home", script="lookup_provider.py",
    )  # fmt: skip
    with sqlite3.connect(db_path(run)) as conn:
        _wait_while_running(
            sender,
            lambda: (
                conn.execute("SELECT 1 FROM outbox WHERE state = 'sending'").fetchone()
                and (not taken or journal_keys(journal))
            ),
        )
        sender.send_signal(signal.SIGKILL)
        sender.communicate()
        [(in_flight,)] = conn.execute(
            "SELECT idempotency_key FROM outbox WHERE state = 'sending'"
        ).fetchall()
    assert journal_keys(journal) == ([in_flight] if taken else [])
    use_provider(tmp_path, work, backend="provider-lookup", lookup_error=lookup_error)
    plugins.get_plugins().register(lookup_plugin, "provider-lookup")
    return journal, keys, in_flight


def _outbox_row(run, key: str) -> sqlite3.Row:
    with sqlite3.connect(db_path(run)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(
            "SELECT * FROM outbox WHERE idempotency_key = ?", (key,)
        ).fetchone()


def _events(run, key: str) -> list[tuple[str, str]]:
    with sqlite3.connect(db_path(run)) as conn:
        return conn.execute(
            "SELECT e.state, e.detail FROM outbox_events e JOIN outbox o"
            " ON o.id = e.outbox_id WHERE o.idempotency_key = ? ORDER BY e.id",
            (key,),
        ).fetchall()


@pytest.mark.parametrize("taken", [True, False], ids=["found", "not-found"])
def test_a_message_in_flight_at_a_kill_is_looked_up_and_sent_once(
    run, tmp_path, isolated, taken
):
    # Found: the provider took it before the kill, so it is recorded sent
    # with the provider's id. Not found: it is queued again and sent once.
    journal, keys, in_flight = _kill_with_one_in_flight(
        tmp_path, isolated, run, taken=taken
    )
    again = send(run)
    assert again.exit_code == 0, again.stderr
    assert "may or may not have reached" not in again.stderr
    assert sorted(journal_keys(journal)) == sorted(keys)  # each exactly once
    assert states(run) == Counter(sent=3)
    row = _outbox_row(run, in_flight)
    # The address it went to is kept, as for any message sent.
    assert row["address"] == "ap0@cliente0.example"
    if taken:
        assert row["provider_id"] == f"P-found-{in_flight}"
        assert row["attempts"] == 1 and _events(run, in_flight) == []
    else:
        assert row["provider_id"] == f"P-{row['id']}" and row["attempts"] == 2
        assert _events(run, in_flight) == [
            ("queued", "interrupted while sending; the provider did not have it")
        ]


def test_a_lookup_that_fails_after_a_kill_marks_the_message_for_a_person(
    run, tmp_path, isolated
):
    # The provider is down while cobra recovers: whether it has the message
    # is not known, so it is not sent again until a person says so.
    journal, keys, in_flight = _kill_with_one_in_flight(
        tmp_path, isolated, run, taken=True, lookup_error=True
    )
    again = send(run)
    assert again.exit_code == 0, again.stderr
    assert "1 messages were interrupted while sending" in again.stderr
    assert Counter(journal_keys(journal)) == Counter(keys)  # none twice
    assert states(run) == Counter(sent=2, unknown=1)
    row = _outbox_row(run, in_flight)
    assert row["state"] == "unknown" and row["address"] == "ap0@cliente0.example"
    assert row["error"].startswith(
        "interrupted while sending; looking it up failed: ConnectionRefusedError"
    )
    # The provider is back: a plain run still leaves it to the person.
    use_provider(tmp_path, isolated, backend="provider-lookup")
    assert "Send: sent 0" in send(run).stderr
    assert Counter(journal_keys(journal)) == Counter(keys)
    assert states(run) == Counter(sent=2, unknown=1)


def test_a_message_resent_to_a_new_address_keeps_it_when_recovered_after_a_kill(
    run, tmp_path, isolated
):
    # The first attempt went to ap0 and its outcome was lost (the lookup was
    # down too): unknown, with ap0. ap0 bounces since and the customer gives
    # another address; a person asks to resend, and that sender is killed
    # after the provider took the message. The next sender finds it sent,
    # to the new address, not to the one the earlier attempt recorded.
    journal = use_provider(
        tmp_path,
        isolated,
        backend="provider-lookup",
        fail_first=1,
        error="unknown",
        lookup_error=True,
    )
    plugins.get_plugins().register(lookup_plugin, "provider-lookup")
    [key] = seed(db_path(run), 1)
    assert send(run).exit_code == 0
    row = _outbox_row(run, key)
    assert (row["state"], row["address"]) == ("unknown", "ap0@cliente0.example")
    with sqlite3.connect(db_path(run)) as conn:
        conn.execute("UPDATE contacts SET invalid_since = '2026-12-02T00:00:00+00:00'")
        conn.execute(
            "INSERT INTO contacts (customer_id, kind, value)"
            " SELECT id, 'email', 'pagos@cliente0.example' FROM customers"
        )

    use_provider(tmp_path, isolated, backend="provider-lookup", pause_after=60)
    sender = _cobra_with_provider(
        "send", "--for", DAY, "--at", AT, "--retry-unknown",
        cwd=isolated, home=tmp_path / "home", script="lookup_provider.py",
    )  # fmt: skip
    # Taken by the provider, its answer not recorded.
    _wait_while_running(sender, lambda: len(journal_records(journal)) >= 2)
    sender.send_signal(signal.SIGKILL)
    sender.communicate()
    assert [r["to"] for r in journal_records(journal)] == [
        "ap0@cliente0.example",
        "pagos@cliente0.example",
    ]
    row = _outbox_row(run, key)
    assert (row["state"], row["address"]) == ("sending", "pagos@cliente0.example")

    use_provider(tmp_path, isolated, backend="provider-lookup")
    again = send(run)
    assert again.exit_code == 0, again.stderr
    row = _outbox_row(run, key)
    assert (row["state"], row["provider_id"]) == ("sent", f"P-found-{key}")
    assert row["address"] == "pagos@cliente0.example"
    assert len(journal_records(journal)) == 2  # not sent a third time


def test_two_senders_recovering_the_same_stale_message_send_it_once(
    run, tmp_path, isolated
):
    # A sender on another machine died with the message in sending, before
    # the provider got it. Sender B finds it, and while B waits for the
    # provider's answer to its lookup (not found), sender A starts: A must
    # leave the message to B, or both resend it.
    gate = tmp_path / "gate"
    journal = use_provider(
        tmp_path, isolated, backend="provider-lookup", lookup_gate=str(gate)
    )
    plugins.get_plugins().register(lookup_plugin, "provider-lookup")
    [key] = seed(db_path(run), 1)
    with sqlite3.connect(db_path(run)) as conn:
        conn.execute(
            "UPDATE outbox SET state = 'sending', claimed_by = 'otherhost:4242',"
            " claimed_at = '2026-12-01T00:00:00+00:00', attempts = 1"
        )
    b = _cobra_with_provider(
        "send", "--for", DAY, "--at", AT,
        cwd=isolated, home=tmp_path / "home", script="lookup_provider.py",
    )  # fmt: skip
    try:
        _wait_while_running(b, Path(f"{gate}.asked").exists)
        # B took the claim over before asking the provider.
        row = _outbox_row(run, key)
        assert row["state"] == "sending"
        assert row["claimed_by"] == f"{socket.gethostname()}:{b.pid}"

        use_provider(tmp_path, isolated, backend="provider-lookup")  # no gate
        a = send(run)
        assert a.exit_code == 0, a.stderr
        assert "Send: sent 0, failed 0, held 0, retried 0." in a.stderr
        assert journal_keys(journal) == []  # A left it to B
        assert _outbox_row(run, key)["state"] == "sending"
    finally:
        gate.touch()
        _, err = b.communicate(timeout=60)
    assert b.returncode == 0, err
    assert "Send: sent 1, failed 0" in err
    assert journal_keys(journal) == [key]
    assert states(run) == Counter(sent=1)
    assert _events(run, key) == [
        ("queued", "interrupted while sending; the provider did not have it")
    ]


# -- receipts and replies ---------------------------------------------------------


def test_reports_move_a_message_forward_never_back(run, tmp_path, isolated):
    from cobra.channels import Receipt
    from cobra.receipts import apply_receipt
    from cobra.store import Store

    use_provider(tmp_path, isolated)
    [key] = seed(db_path(run), 1)
    assert send(run).exit_code == 0
    with Store.open(db_path(run)) as store:
        assert apply_receipt(store, Receipt("delivered", key=key)).updated == 1
        late = apply_receipt(store, Receipt("sent", provider_id="P-1"))
        assert (late.updated, late.unchanged) == (0, 1)
        lost = apply_receipt(
            store, Receipt("delivered", key="nobody|x#1|2026-12-03|sms")
        )
        assert lost.unmatched == 1
    assert states(run) == Counter(delivered=1)


def test_a_hard_bounce_fails_the_message_and_invalidates_the_address(
    run, tmp_path, isolated
):
    from cobra.channels import Receipt
    from cobra.receipts import apply_receipt
    from cobra.store import Store

    use_provider(tmp_path, isolated)
    [key] = seed(db_path(run), 1)
    assert send(run).exit_code == 0
    with Store.open(db_path(run)) as store:
        done = apply_receipt(
            store,
            Receipt(
                "failed", key=key, detail="5.1.1 unknown user", invalid_address=True
            ),
        )
    assert (done.updated, done.invalidated) == (1, 1)
    with sqlite3.connect(db_path(run)) as conn:
        assert (
            conn.execute("SELECT error FROM outbox").fetchone()[0]
            == "5.1.1 unknown user"
        )
        reason = conn.execute("SELECT invalid_reason FROM contacts").fetchone()[0]
    assert reason == "bounced: 5.1.1 unknown user"


@pytest.mark.parametrize(
    ("text", "opted_out"),
    [
        ("STOP", True),
        ("stop.", True),
        ("Baja por favor", True),
        ("I will pay at the end of the month", False),
        ("Pagaré el viernes. No me manden más SMS? STOP", False),
    ],
)
def test_a_reply_opts_out_when_its_first_word_is_an_opt_out_word(text, opted_out):
    from cobra.receipts import DEFAULT_OPT_OUT_WORDS, is_opt_out

    assert is_opt_out(text, DEFAULT_OPT_OUT_WORDS) is opted_out


def test_a_delivery_report_through_the_listener_marks_the_message_delivered(
    run, tmp_path, isolated
):
    import threading
    import urllib.parse
    import urllib.request

    from cobra import config as config_module
    from cobra.receipts_server import make_server

    use_provider(tmp_path, isolated)
    [key] = seed(db_path(run), 1, channel="sms")
    assert send(run).exit_code == 0
    config = config_module.load()
    server = make_server(config, db_path(run), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        query = urllib.parse.urlencode({"state": "delivered", "key": key})
        url = f"http://127.0.0.1:{port}/sms/status?{query}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert answer.status == 200
        assert states(run) == Counter(delivered=1)
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/sms/inbound", timeout=5)
        assert missing.value.code == 404  # the stand-in takes no replies
    finally:
        server.shutdown()
        server.server_close()


def test_an_sms_stop_opts_out_and_holds_the_next_message(run):
    from cobra.channels import Inbound
    from cobra.receipts import apply_inbound
    from cobra.store import Store

    # Customer 0's message goes today; customer 1's is planned for tomorrow.
    seed(db_path(run), 1, channel="sms")
    seed(db_path(run), 1, channel="sms", day="2026-12-04", first=1)
    assert "Send: sent 1" in send(run).stderr
    with Store.open(db_path(run)) as store:
        first = apply_inbound(
            store, Inbound("sms", "+1 212 555 0001", "STOP", provider_id="in-1")
        )
        again = apply_inbound(
            store, Inbound("sms", "+12125550001", "STOP", provider_id="in-1")
        )
        stranger = apply_inbound(
            store, Inbound("sms", "+5699999999", "hola", provider_id="in-2")
        )
    assert (first.replies, first.opt_outs, again.unchanged) == (1, 1, 1)
    assert stranger.unmatched == 1
    result = run("send", "--for", "2026-12-04", "--at", "2026-12-04T11:00:00-05:00")
    assert "Send: sent 0, failed 0, held 1" in result.stderr
    with sqlite3.connect(db_path(run)) as conn:
        assert (
            conn.execute(
                "SELECT hold_reason FROM outbox WHERE planned_for = '2026-12-04'"
            ).fetchone()[0]
            == "opted out of sms"
        )
        assert conn.execute("SELECT COUNT(*) FROM inbound").fetchone()[0] == 2


def test_a_customer_with_an_unknown_time_zone_is_held_not_a_crash(run):
    seed(db_path(run), 1, timezone="Mars/Olympus_Mons")
    result = send(run)
    assert result.exit_code == 0, result.stderr
    with sqlite3.connect(db_path(run)) as conn:
        state, reason = conn.execute("SELECT state, hold_reason FROM outbox").fetchone()
    assert state == "held"
    assert "'Mars/Olympus_Mons' is not an IANA time zone" in reason


def test_a_message_asking_for_an_invoice_disputed_since_it_was_written_is_held(
    run, tmp_path
):
    # Brickwork owes three bills; the plan writes a reminder asking for all
    # three. Then the customer disputes one on the phone, before it goes.
    brick = struggling()
    load(run, tmp_path, brick)
    day = "2026-06-10"
    planned = run("plan", "--for", day, "--format", "json")
    assert planned.exit_code == 0, planned.stderr
    [contact] = [c for c in json.loads(planned.stdout) if c["channel"] == "email"]
    assert "- Invoice BRICK-0016," in contact["preview"]
    assert "Total overdue: $3,300.00" in contact["preview"]
    disputed = run("log", "BRICK", "--outcome", "dispute", "--invoice", "BRICK-0016")
    assert disputed.exit_code == 0, disputed.stderr

    held = run("send", "--for", day, "--at", f"{day}T15:00:00+00:00")
    assert held.exit_code == 0, held.stderr
    assert "held 1" in held.stderr
    with sqlite3.connect(db_path(run)) as conn:
        state, reason = conn.execute(
            "SELECT state, hold_reason FROM outbox WHERE channel = 'email'"
        ).fetchone()
    assert state == "held"
    assert reason.startswith("it asks for BRICK-0016, disputed since it was written")
    assert not list((tmp_path / "work").rglob("*.eml"))  # nothing was delivered

    # The step is not done: the next day's plan writes it again, without it.
    again = run("plan", "--for", "2026-06-11", "--format", "json")
    [rewritten] = [c for c in json.loads(again.stdout) if c["channel"] == "email"]
    assert rewritten["state"] == "planned"
    assert (rewritten["strategy"], rewritten["step"]) == (
        contact["strategy"],
        contact["step"],
    )
    assert "- Invoice BRICK-0016," not in rewritten["preview"]
    assert "- Invoice BRICK-0017," in rewritten["preview"]
    assert "Total overdue: $2,500.00" in rewritten["preview"]
    sent = run("send", "--for", "2026-06-11", "--at", "2026-06-11T15:00:00+00:00")
    assert "Send: sent 1" in sent.stderr, sent.stderr
