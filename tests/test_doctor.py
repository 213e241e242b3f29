"""`cobra doctor`: every check a run depends on, without sending anything."""

from __future__ import annotations

import json
import socket

import pytest
from services import smtp as smtp_services
from services.kannel import PASSWORD as KANNEL_PASSWORD
from services.kannel import USERNAME as KANNEL_USER
from services.kannel import kannel, kannel_listener  # noqa: F401  (fixtures)

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
