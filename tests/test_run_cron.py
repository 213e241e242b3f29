"""`cobra run` from cron's point of view, against a real SMTP server and a
real Kannel gateway: a subprocess with a minimal environment and no
terminal, run twice at once, killed halfway and run again, and run twice on
the same day. What arrived is counted at the servers themselves."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from histories import History
from services import smtp as smtp_services
from services.kannel import PASSWORD as KANNEL_PASSWORD
from services.kannel import USERNAME as KANNEL_USER
from services.kannel import kannel, kannel_listener  # noqa: F401  (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
smtp_certs = smtp_services.smtp_certs
smtp_server = smtp_services.smtp_server

DAY = date(2026, 6, 10)
AT = "2026-06-10T15:00:00+00:00"  # 11:00 in New York: within the contact hours
USER, PASSWORD = "cobranza@example.com", "cron-s3cret"
COBRA = Path(sys.executable).parent / "cobra"


class SlowRecorder(smtp_services.Recorder):
    """Takes a while over each message, so a run can be caught mid-send."""

    delay = 0.15

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def customers(prefix: str, count: int, *, phone: bool) -> list[History]:
    """Good payers whose latest bill is two days late: the plan reminds them
    by SMS, or by e-mail when they have no phone."""
    found = []
    for n in range(count):
        history = History(
            f"{prefix}{n:03d}",
            f"{prefix.title()} {n} Inc.",
            phone=f"+1212555{(hash(prefix) % 9)}{n:03d}" if phone else None,
        )
        history.monthly(date(2024, 5, 1), 24, "300.00")
        history.invoice(DAY - timedelta(days=32), "300.00")
        found.append(history)
    return found


def setup(tmp_path: Path, server, ca_file: Path, gateway, histories) -> dict:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text(
        "".join(json.dumps(r) + "\n" for h in histories for r in h.records)
    )
    folder = tmp_path / "cobra"
    folder.mkdir()
    config = folder / "cobra.toml"
    config.write_text(f"""
[store]
path = "cobra.sqlite"

[[sources]]
source = "{ledger}"

[channels.email]
backend = "smtp"
host = "127.0.0.1"
port = {server.port}
security = "starttls"
ca_file = "{ca_file}"
username = "{USER}"
password_env = "SMTP_PASSWORD"
from = "{USER}"

[channels.sms]
backend = "kannel"
url = "{gateway.sendsms_url}"
username = "{KANNEL_USER}"
password_env = "KANNEL_PASSWORD"
""")
    # What cron gives a job: almost nothing, and no terminal.
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C",
        "COBRA_CONFIG": str(config),
        "SMTP_PASSWORD": PASSWORD,
        "KANNEL_PASSWORD": KANNEL_PASSWORD,
    }


def start_run(
    env: dict, *extra: str, cobra: list[str] | None = None
) -> subprocess.Popen:
    # A session of its own, as cron gives: no controlling terminal to open
    # or to be signalled through.
    return subprocess.Popen(
        [
            *(cobra or [str(COBRA)]),
            "-q",
            "run",
            "--for",
            DAY.isoformat(),
            "--at",
            AT,
            *extra,
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=env["HOME"],
        start_new_session=True,
    )


def kill_when(process: subprocess.Popen, ready) -> None:
    """SIGKILL *process* as soon as *ready()* is true, within a minute."""
    deadline = time.monotonic() + 60
    while not ready():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()


def finish(process: subprocess.Popen) -> tuple[int, str]:
    _, err = process.communicate(timeout=120)
    return process.returncode, err


def emails(server) -> Counter:
    return Counter(rcpt for message in server.received for rcpt in message.rcpt_tos)


def texts(gateway, prefix: str) -> Counter:
    """SMS per number at the gateway's fake centre, for this test's customers.

    The gateway serves the whole session; the invoice numbers in the text
    carry this test's own account prefix.
    """
    return Counter(to for _, to, text in gateway.fake_centre_got() if prefix in text)


def arrived(server, gateway, prefixes: tuple[str, str]) -> Counter:
    """Copies that reached the SMTP server or the SMS centre, per account.

    An e-mail goes to ``ap@ACCOUNT.example``; an SMS names the account's
    invoices, whose numbers begin with the account.
    """
    got = Counter()
    for rcpt, copies in emails(server).items():
        got[rcpt.partition("@")[2].removesuffix(".example").upper()] += copies
    accounts = re.compile("|".join(re.escape(p) for p in prefixes) + r"\d{3}")
    for _, _, text in gateway.fake_centre_got():
        for account in set(accounts.findall(text)):
            got[account] += 1
    return got


def outbox_by_account(env: dict) -> dict[str, tuple[str, str]]:
    """(channel, state) of each customer's message."""
    db = Path(env["COBRA_CONFIG"]).parent / "cobra.sqlite"
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT c.account, o.channel, o.state FROM outbox o"
            " JOIN customers c ON c.id = o.customer_id"
            " WHERE o.channel IN ('email', 'sms')"
        ).fetchall()
    assert len(rows) == len({account for account, _, _ in rows}), rows
    return {account: (channel, state) for account, channel, state in rows}


def agenda_unknown(env: dict) -> set[str]:
    """Accounts whose message the agenda lists for a person to check."""
    result = subprocess.run(
        [str(COBRA), "agenda", "--for", DAY.isoformat(), "--format", "json"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=env["HOME"],
        start_new_session=True,
        timeout=60,
        check=True,
    )
    return {
        row["account"]
        for row in json.loads(result.stdout)
        if row["kind"] == "message_unknown"
    }


def outbox_states(env: dict) -> Counter:
    db = Path(env["COBRA_CONFIG"]).parent / "cobra.sqlite"
    with sqlite3.connect(db) as conn:
        return Counter(
            r[0]
            for r in conn.execute(
                "SELECT state FROM outbox WHERE channel IN ('email', 'sms')"
            )
        )


@pytest.fixture
def world(tmp_path, smtp_server, smtp_certs, kannel):
    """A slow SMTP server, the Kannel gateway, 12 e-mail and 6 SMS customers."""
    server = smtp_server("starttls", users={USER: PASSWORD}, recorder=SlowRecorder())
    prefix = f"K{os.getpid() % 1000:03d}{int(time.time() * 1000) % 1000:03d}-"
    by_mail = customers("MAIL" + prefix, 12, phone=False)
    by_sms = customers("TEXT" + prefix, 6, phone=True)
    env = setup(tmp_path, server, smtp_certs.ca_file, kannel, by_mail + by_sms)
    return server, kannel, env, "TEXT" + prefix


def test_two_runs_at_once_one_waits_out_and_everyone_gets_one_message(world):
    server, gateway, env, prefix = world
    first = start_run(env)
    lock = Path(env["COBRA_CONFIG"]).parent / "cobra.sqlite.run.lock"
    deadline = time.monotonic() + 30
    while not (lock.exists() and lock.read_text().startswith("pid")):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second = start_run(env)
    code, err = finish(second)
    assert code == 75, err
    assert "another cobra run is working on this database" in err
    code, err = finish(first)
    assert code == 0, err
    assert err == ""  # -q: quiet on success

    assert sorted(emails(server).values()) == [1] * 12
    deadline = time.monotonic() + 10
    while sum(texts(gateway, prefix).values()) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(texts(gateway, prefix).values()) == [1] * 6
    assert outbox_states(env) == Counter(sent=18)

    # Twice on the same day: nothing new goes out.
    code, err = finish(start_run(env))
    assert (code, err) == (0, "")
    time.sleep(0.5)
    assert sum(emails(server).values()) == 12
    assert sum(texts(gateway, prefix).values()) == 6


def test_a_run_killed_halfway_and_run_again_sends_nothing_twice(world):
    server, gateway, env, prefix = world
    first = start_run(env)
    kill_when(first, lambda: len(server.received) >= 4)

    code, err = finish(start_run(env))
    assert code == 0, err  # interrupted messages are reported, not failures
    assert f"the previous cobra run (pid {first.pid}, started " in err
    code, err = finish(start_run(env))  # and once more: nothing changes
    assert (code, err) == (0, "")

    messages = outbox_by_account(env)
    mail_prefix = "MAIL" + prefix.removeprefix("TEXT")
    expected = {f"{mail_prefix}{n:03d}": "email" for n in range(12)}
    expected |= {f"{prefix}{n:03d}": "sms" for n in range(6)}
    assert {account: channel for account, (channel, _) in messages.items()} == expected
    # Each message went exactly once, or is left for a person to check: the
    # ones the killed run had handed over (at most one per worker).
    states = Counter(state for _, state in messages.values())
    assert set(states) <= {"sent", "unknown"}
    assert states["unknown"] <= 4
    unknown = {
        account for account, (_, state) in messages.items() if state == "unknown"
    }
    assert agenda_unknown(env) == unknown

    # Wait for the gateway to hand every SMS marked sent to its centre, then
    # a moment more, so a copy sent twice would show.
    sent_texts = sum(1 for c, s in messages.values() if (c, s) == ("sms", "sent"))
    deadline = time.monotonic() + 10
    while (
        sum(texts(gateway, prefix).values()) < sent_texts
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    time.sleep(0.5)
    got = arrived(server, gateway, (mail_prefix, prefix))
    assert set(got) <= set(expected), got
    for account, (channel, state) in messages.items():
        if state == "sent":
            assert got[account] == 1, f"{channel} to {account}: {got[account]} copies"
        else:
            # Handed over when the run was killed: it may have arrived, once.
            assert got[account] <= 1, f"{channel} to {account}: {got[account]} copies"
    assert sum(got.values()) == states["sent"] + sum(got[a] for a in unknown)


# -- killed before sending: while importing, while planning ----------------------


def split_sources(env: dict, prefix: str, padding: int) -> tuple[Path, Path]:
    """Two sources in place of the one ledger: the e-mail customers', then the
    SMS customers' followed by *padding* customers who owe nothing (enough
    text to fill a pipe). Both name their importer: a source that is a pipe
    must not be read to recognise it."""
    home = Path(env["HOME"])
    ledger = home / "ledger.jsonl"
    lines = ledger.read_text().splitlines(keepends=True)
    mail, text = home / "mail.jsonl", home / "text.jsonl"
    mail.write_text("".join(line for line in lines if prefix not in line))
    pad = [
        json.dumps(
            {
                "type": "customer",
                "customer_id": f"{prefix}P{n:04d}",
                "name": f"Paid Up {n} Inc.",
                "country": "US",
            }
        )
        + "\n"
        for n in range(padding)
    ]
    text.write_text("".join(line for line in lines if prefix in line) + "".join(pad))
    config = Path(env["COBRA_CONFIG"])
    one = f'[[sources]]\nsource = "{ledger}"\n'
    two = "".join(
        f'[[sources]]\nsource = "{path}"\nimporter = "jsonl"\n\n'
        for path in (mail, text)
    )
    assert one in config.read_text()
    config.write_text(config.read_text().replace(one, two))
    return mail, text


def ledger_counts(env: dict) -> Counter:
    """Rows of what was imported and planned, to hold against the records."""
    db = Path(env["COBRA_CONFIG"]).parent / "cobra.sqlite"
    with sqlite3.connect(db) as conn:
        return Counter(
            {
                table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("customers", "invoices", "payments", "outbox")
            }
        )


def records_in(*sources: Path) -> Counter:
    """How many customers, invoices and payments the sources hold."""
    kinds = Counter(
        json.loads(line)["type"]
        for source in sources
        for line in source.read_text().splitlines()
        if line.strip()
    )
    return Counter({f"{kind}s": n for kind, n in kinds.items()})


def write_lock_held(env: dict) -> bool:
    """Whether a transaction is writing to the database (an import's)."""
    db = Path(env["COBRA_CONFIG"]).parent / "cobra.sqlite"
    if not db.exists():
        return False
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc), exc
        return True
    finally:
        conn.close()


def finish_the_day(server, gateway, env: dict, prefix: str) -> dict:
    """Run again until the day is done; every message went exactly once.

    Returns the JSON summary of the first re-run."""
    again = start_run(env, "--format", "json")
    out, err = again.communicate(timeout=120)
    # Killed before sending, the run left nothing for a person: a success,
    # quiet but for saying that the run before it never finished.
    assert again.returncode == 0, err
    assert err.startswith("warning: the previous cobra run (pid "), err
    assert err.count("\n") == 1 and "this run completes the day" in err
    summary = json.loads(out)
    assert summary["send"]["sent"] == 18 and summary["send"]["unknown"] == 0
    code, err = finish(start_run(env))  # once more: nothing changes
    assert (code, err) == (0, "")
    assert outbox_states(env) == Counter(sent=18)
    assert sorted(emails(server).values()) == [1] * 12
    deadline = time.monotonic() + 10
    while sum(texts(gateway, prefix).values()) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # a copy sent twice would show by now
    assert sorted(texts(gateway, prefix).values()) == [1] * 6
    return summary


def test_a_run_killed_while_importing_imports_and_sends_nothing_twice(world, tmp_path):
    server, gateway, env, prefix = world
    mail, text = split_sources(env, prefix, padding=2000)
    content = text.read_bytes()
    text.unlink()
    os.mkfifo(text)
    # The second source is a pipe fed all but its end: the import reads past
    # the pipe's buffer, then waits for more inside its transaction.
    release = threading.Event()

    def feed() -> None:
        with open(text, "wb") as pipe:
            try:
                pipe.write(content)
                pipe.flush()
                fed.set()
                release.wait(60)
            except BrokenPipeError:
                pass  # the reader was killed

    fed = threading.Event()
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    first = start_run(env)
    kill_when(first, lambda: fed.is_set() and write_lock_held(env))
    release.set()
    feeder.join(10)
    assert len(content) > 4 * 65536  # more than a pipe holds: it was being read
    # The first source was imported; the second's transaction died with it.
    assert ledger_counts(env) == records_in(mail)

    text.unlink()
    text.write_bytes(content)
    summary = finish_the_day(server, gateway, env, prefix)
    first_source, second_source = summary["sources"]
    assert first_source["counts"]["customers"] == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 12,
    }
    assert second_source["counts"]["customers"]["inserted"] == 2006
    assert ledger_counts(env) == records_in(mail, text) + Counter(outbox=18)


def test_a_run_killed_while_planning_plans_and_sends_nothing_twice(world, tmp_path):
    server, gateway, env, prefix = world
    marker = tmp_path / "planning"
    tests = Path(__file__).resolve().parent
    pausing = [sys.executable, str(tests / "cron_pause.py")]
    first = start_run({**env, "COBRA_PAUSE_MARKER": str(marker)}, cobra=pausing)
    kill_when(first, marker.exists)
    ledger = records_in(Path(env["HOME"]) / "ledger.jsonl")
    assert ledger["customers"] == 18
    assert ledger_counts(env) == ledger  # imported; the plan not yet stored

    summary = finish_the_day(server, gateway, env, prefix)
    [source] = summary["sources"]
    assert source["counts"]["customers"] == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 18,
    }
    assert summary["planned_new"] == summary["planned"] >= 18
    assert ledger_counts(env) == ledger + Counter(outbox=18)
