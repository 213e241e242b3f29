"""`cobra doctor`: every check a run depends on, without sending anything."""

from __future__ import annotations

import json
import socket

import pytest
from services import smtp as smtp_services
from services.kannel import PASSWORD as KANNEL_PASSWORD
from services.kannel import USERNAME as KANNEL_USER
from services.kannel import kannel, kannel_listener  # noqa: F401  (fixtures)

pytest_plugins = ["services.dovecot"]  # the dovecot and imap_account fixtures
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
smtp_certs = smtp_services.smtp_certs
smtp_server = smtp_services.smtp_server
USER, PASSWORD = "cobranza@example.com", "doctor-s3cret"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(folder, server, ca_file, sendsms_url: str) -> None:
    (folder / "cobra.toml").write_text(f"""
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
url = "{sendsms_url}"
username = "{KANNEL_USER}"
password_env = "KANNEL_PASSWORD"
""")


def findings(result) -> dict[str, dict]:
    return {row["area"]: row for row in json.loads(result.stdout)}


def test_a_healthy_setup_has_no_problems(run, isolated, smtp_server, smtp_certs,
                                         kannel, monkeypatch):
    server = smtp_server("starttls", users={USER: PASSWORD})
    write_config(isolated, server, smtp_certs.ca_file, kannel.sendsms_url)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("KANNEL_PASSWORD", KANNEL_PASSWORD)
    result = run("doctor", "--format", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    found = findings(result)
    assert found["channel email"]["status"] == "ok"
    assert found["channel sms"]["status"] == "ok"
    assert found["config"]["status"] == "ok"
    assert "No problems found." in result.stderr
    assert server.received == []  # nothing was sent


def test_a_wrong_smtp_password_and_an_unreachable_gateway_are_reported(
        run, isolated, smtp_server, smtp_certs, monkeypatch):
    server = smtp_server("starttls", users={USER: PASSWORD})
    url = f"http://127.0.0.1:{closed_port()}/cgi-bin/sendsms"
    write_config(isolated, server, smtp_certs.ca_file, url)
    monkeypatch.setenv("SMTP_PASSWORD", "not-the-password-4711")
    monkeypatch.setenv("KANNEL_PASSWORD", KANNEL_PASSWORD)
    result = run("doctor", "--format", "json")
    assert result.exit_code == 1
    found = findings(result)
    email, sms = found["channel email"], found["channel sms"]
    assert email["status"] == "problem"
    assert "535" in email["detail"] or "password" in email["detail"].lower()
    assert email["fix"] == "fix the channel's settings or credentials"
    assert sms["status"] == "problem"
    assert "127.0.0.1" in sms["detail"]
    assert sms["fix"] == "is the server up and reachable from here?"
    assert "2 problems found." in result.stderr
    assert server.received == []


def test_a_database_readable_by_others_and_a_missing_source_are_problems(
        run, isolated, tmp_path):
    db = tmp_path / "home" / "cobra.sqlite"
    assert run("db", "migrate").exit_code == 0
    db.chmod(0o644)
    (isolated / "cobra.toml").write_text(
        f'[store]\npath = "{db}"\n\n[[sources]]\nsource = "missing.csv"\n')
    result = run("doctor", "--format", "json")
    assert result.exit_code == 1
    found = findings(result)
    assert found["database"]["status"] == "problem"
    assert found["database"]["fix"] == f"chmod 600 {db}"
    [source] = [row for area, row in found.items() if area.startswith("source ")]
    assert source["status"] == "problem" and "no such file" in source["detail"]


def test_an_unknown_company_time_zone_is_a_problem_naming_the_setting(run, isolated):
    config = isolated / "cobra.toml"
    config.write_text('[company]\ntimezone = "America/Santigo"\n')
    result = run("doctor", "--format", "json")
    assert result.exit_code == 1
    [zones] = [row for row in json.loads(result.stdout) if row["area"] == "time zones"]
    assert zones["status"] == "problem"
    assert zones["detail"] == (
        "company.timezone 'America/Santigo' is not a known time zone"
    )
    assert zones["fix"].startswith(
        f"set company.timezone to an IANA name such as 'America/Santiago' in {config}"
    )
    assert "tzdata" in zones["fix"]


def test_customers_with_an_unknown_time_zone_are_a_problem(run, isolated):
    from outbox_seed import seed

    seed(run("db", "path").stdout.strip(), 2, timezone="Mars/Olympus_Mons")
    result = run("doctor", "--format", "json")
    assert result.exit_code == 1, result.stdout + result.stderr
    found = findings(result)
    assert found["time zones"] == {
        "status": "problem",
        "area": "time zones",
        "detail": "customers have unknown time zones: Mars/Olympus_Mons; their "
        "messages are held",
        "fix": "correct those customers' timezone in the source and import it "
        "again; if no name is known at all, install the tzdata package",
    }
    assert "1 problems found." in result.stderr


def test_a_mailbox_with_a_wrong_password_is_a_problem_naming_the_fix(
        run, isolated, dovecot, imap_account, monkeypatch):
    config = isolated / "cobra.toml"
    config.write_text(
        f'[replies.email]\nhost = "{dovecot.host}"\nport = {dovecot.imap_port}\n'
        f'security = "none"\nusername = "{imap_account.username}"\n'
        'password_env = "COBRA_TEST_IMAP_PASSWORD"\ntimeout = 5\n'
    )
    monkeypatch.setenv("COBRA_TEST_IMAP_PASSWORD", imap_account.password)
    healthy = run("doctor", "--format", "json")
    assert healthy.exit_code == 0, healthy.stdout + healthy.stderr
    assert findings(healthy)["replies mailbox"]["status"] == "ok"

    monkeypatch.setenv("COBRA_TEST_IMAP_PASSWORD", "not-the-password")
    with dovecot.failing_logins():
        result = run("doctor", "--format", "json")
    assert result.exit_code == 1
    mailbox = findings(result)["replies mailbox"]
    assert mailbox["status"] == "problem"
    assert "refused the login" in mailbox["detail"]
    assert "check replies.email.username and the password in " \
        "COBRA_TEST_IMAP_PASSWORD" in mailbox["detail"]
    assert mailbox["fix"] == (
        f"fix [replies.email] in {config} as the detail says; then `cobra doctor` again"
    )
    assert "1 problems found." in result.stderr
