"""Opt-out words per country: each contact-rule profile names its own.

Replies reach a real `cobra receipts serve` process, called the way Kannel's
sms-service get-url calls it; the customers come from `cobra import`, and
what was stored is read back from the database.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import date
from importlib.resources import files

import pytest
from histories import History, load

from cobra import config as config_module
from cobra.errors import ConfigError
from cobra.guard import load_profiles
from cobra.receipts import OptOutWords, is_opt_out

CHILE = "+56912345678"
UNITED_STATES = "+12125550147"
ARGENTINA = "+5491123456789"  # no profile for AR: the global words apply

SHIPPED_CL = files("cobra_starter").joinpath("profiles", "CL.toml").read_text("utf-8")
SHIPPED_CL_WORDS = 'opt_out_words = ["BAJA", "ALTO", "PARAR", "STOP"]\n'

CONFIG = """\
[channels.sms]
backend = "kannel"
url = "http://127.0.0.1:9/cgi-bin/sendsms"
username = "cobra"
password_env = "KANNEL_TEST_PASSWORD"

[replies]
opt_out_words = ["STOP", "BASTA"]
"""


def customers(run, tmp_path) -> None:
    """One customer in Chile, one in the US and one in Argentina."""
    histories = []
    for account, country, phone in (
        ("CHILE", "CL", CHILE),
        ("USA", "US", UNITED_STATES),
        ("ARGENTINA", "AR", ARGENTINA),
    ):
        history = History(account, f"{account.title()} S.A.", phone=phone)
        history.records[0]["country"] = country
        history.invoice(date(2026, 5, 9), "1200.00")
        histories.append(history)
    load(run, tmp_path, *histories)


def serve(isolated):
    """`cobra receipts serve` on a free port; returns (process, base URL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cobra", "receipts", "serve", "--port", "0"],
        cwd=isolated,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stderr:
        if line.startswith("Listening on "):
            return process, line.split()[2]
    process.wait(10)
    pytest.fail(f"cobra receipts serve did not start (exit {process.returncode})")


def text_message(base: str, sender: str, text: str, number: int) -> None:
    """An incoming SMS as Kannel's get-url passes it on."""
    query = urllib.parse.urlencode({"from": sender, "text": text, "id": f"in-{number}"})
    with urllib.request.urlopen(f"{base}/sms/inbound?{query}", timeout=5) as answer:
        assert answer.status == 200


def test_an_sms_reply_is_read_with_the_words_of_the_customers_country(
    run, tmp_path, isolated, monkeypatch
):
    monkeypatch.setenv("KANNEL_TEST_PASSWORD", "secret")
    (isolated / "cobra.toml").write_text(CONFIG, encoding="utf-8")
    customers(run, tmp_path)
    database = run("db", "path").stdout.strip()

    def opted_out() -> list[tuple[str, str]]:
        with sqlite3.connect(database) as conn:
            return conn.execute(
                "SELECT c.account, o.channel FROM opt_outs o"
                " JOIN customers c ON c.id = o.customer_id ORDER BY c.account"
            ).fetchall()

    process, base = serve(isolated)
    try:
        # BAJA is a Chilean opt-out word, not a US one; BASTA is only in the
        # global list, which applies to Argentina alone.
        text_message(base, "56912345678", "Baja", 1)
        text_message(base, UNITED_STATES, "Baja", 2)
        text_message(base, UNITED_STATES, "Basta", 3)
        text_message(base, CHILE, "Basta", 4)
        assert opted_out() == [("CHILE", "sms")]
        text_message(base, UNITED_STATES, "STOP", 5)
        text_message(base, ARGENTINA, "basta.", 6)
        assert opted_out() == [("ARGENTINA", "sms"), ("CHILE", "sms"), ("USA", "sms")]
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()

    with sqlite3.connect(database) as conn:
        kept = conn.execute(
            "SELECT provider_id, opt_out FROM inbound ORDER BY provider_id"
        ).fetchall()
    # Every reply is on its customer's timeline, opt-out or not.
    assert kept == [
        ("in-1", 1),
        ("in-2", 0),
        ("in-3", 0),
        ("in-4", 0),
        ("in-5", 1),
        ("in-6", 1),
    ]


@pytest.mark.parametrize(
    ("text", "country", "opted_out"),
    [
        ("BAJA", "CL", True),
        ("baja", "CO", True),
        ("Bája, por favor", "MX", True),
        ("ALTO", "CL", True),
        ("Stop", "CL", True),
        ("Pagaré el viernes, no me den de baja", "CL", False),
        # "Cancelar" is also "to pay off" in Latin America: a promise.
        ("Cancelar el viernes", "CL", False),
        ("Cancelar", "AR", False),
        ("STOPALL", "US", True),
        ("Unsubscribe me", "US", True),
        # Carriers take CANCEL, END and QUIT as the whole message only; as a
        # first word they begin answers to a collector.
        ("End of the month I will pay", "US", False),
        ("Cancel the late fee please?", "US", False),
        ("Quit calling my work, I'll pay friday", "US", False),
        ("STOP texting me", "US", True),
        ("Baja", "US", False),
        ("I will pay at the end of the month", "US", False),
        ("Baja", "AR", True),  # no profile: the shipped global list has BAJA
        ("Baja", None, True),  # country unknown: the same
    ],
)
def test_the_shipped_profiles_words(text, country, opted_out):
    words = OptOutWords.from_config(config_module.load())
    assert is_opt_out(text, words.for_country(country)) is opted_out


def test_accents_are_ignored_on_both_sides():
    assert is_opt_out("BAJA", ["Bája"])
    assert is_opt_out("Bája", ["BAJA"])
    assert is_opt_out("Bája", ["bája"])
    assert not is_opt_out("Bajar el monto", ["BAJA"])


def user_profile(isolated, text: str):
    """A profiles_dir holding CL.toml with *text*; returns the file."""
    folder = isolated / "my-profiles"
    folder.mkdir()
    path = folder / "CL.toml"
    path.write_text(text, encoding="utf-8")
    (isolated / "cobra.toml").write_text(
        '[contact_rules]\nprofiles_dir = "my-profiles"\n'
        '[replies]\nopt_out_words = ["BASTA"]\n',
        encoding="utf-8",
    )
    return path


def test_a_profile_without_opt_out_words_uses_the_global_ones(isolated):
    assert SHIPPED_CL_WORDS in SHIPPED_CL
    user_profile(isolated, SHIPPED_CL.replace(SHIPPED_CL_WORDS, ""))
    words = OptOutWords.from_config(config_module.load())
    assert words.for_country("CL") == ("BASTA",)
    assert words.for_country("MX") == ("BAJA", "ALTO", "PARAR", "STOP")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"STOP"', 'expected a list of words such as ["STOP", "BAJA"], got a string'),
        ("[]", "empty: name at least one word, or leave the key out"),
        ('["STOP", ""]', "got '' among them"),
        ('["STOP", 3]', "got 3 among them"),
        ('["DAR DE BAJA"]', "'DAR DE BAJA' is not one word"),
    ],
)
def test_bad_opt_out_words_in_a_profile_file_name_the_file_and_key(
    isolated, value, message
):
    path = user_profile(
        isolated, SHIPPED_CL.replace(SHIPPED_CL_WORDS, f"opt_out_words = {value}\n")
    )
    with pytest.raises(ConfigError) as caught:
        load_profiles(config_module.load())
    text = str(caught.value)
    assert f"{path}: opt_out_words: " in text
    assert message in text
    assert caught.value.exit_code == 2


def test_config_check_and_receipts_serve_refuse_a_bad_profile_file(
    run, isolated, cobra_process
):
    path = user_profile(
        isolated, SHIPPED_CL.replace(SHIPPED_CL_WORDS, 'opt_out_words = "BAJA"\n')
    )
    expected = f"{path}: opt_out_words: expected a list of words"
    checked = run("config", "check")
    assert checked.exit_code == 2
    assert expected in checked.stderr
    served = cobra_process("receipts", "serve", "--port", "0", cwd=isolated)
    assert served.returncode == 2
    assert expected in served.stderr
    assert "Listening" not in served.stderr
    assert not list(isolated.parent.rglob("*.sqlite"))


def test_a_bad_override_names_the_config_file_and_key(run, isolated, cobra_process):
    config = isolated / "cobra.toml"
    config.write_text(
        '[contact_rules.overrides]\nUS = { opt_out_words = ["STOP", 7] }\n',
        encoding="utf-8",
    )
    checked = run("config", "check")
    fetched = run("receipts", "fetch")
    served = cobra_process("receipts", "serve", "--port", "0", cwd=isolated)
    for code, stderr in (
        (checked.exit_code, checked.stderr),
        (fetched.exit_code, fetched.stderr),
        (served.returncode, served.stderr),
    ):
        assert code == 2, stderr
        assert f"{config}: contact_rules.overrides" in stderr
        assert "US.opt_out_words: " in stderr
        assert "got 7 among them" in stderr
    # None of them went far enough to create the database.
    assert not list(isolated.parent.rglob("*.sqlite"))


def test_an_override_replaces_a_countrys_words(isolated):
    (isolated / "cobra.toml").write_text(
        '[contact_rules.overrides]\nUS = { opt_out_words = ["STOP", "Bája"] }\n',
        encoding="utf-8",
    )
    words = OptOutWords.from_config(config_module.load())
    assert is_opt_out("baja", words.for_country("US"))
    assert not is_opt_out("STOPALL", words.for_country("US"))
