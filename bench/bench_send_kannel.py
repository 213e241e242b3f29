"""How fast ``cobra send`` delivers SMS through the kannel backend.

The target, from the issue: 10,000 SMS through the kannel backend to a real
Kannel smsbox on loopback, at no less than 0.7 times the throughput of a
bare ``requests.Session`` loop sending the same requests to the same smsbox.
The runner bounds ratios from above, so the figure is the time ratio:
``send_ratio`` = ``cobra_s / baseline_s`` <= 1 / 0.7.

- The gateway: a real Kannel 1.4 (bearerbox, Kannel's fake SMS centre fed
  by ``fakesmsc -m 0``, smsbox), started by the tests' helper
  ``tests/services/kannel.py`` with every port free and on loopback, one for
  the whole benchmark. No delivery reports are asked for. After every run
  the fake centre is checked to have got exactly that run's messages.
- The baseline: ``python bench/bench_send_kannel.py --baseline URL DB``, one
  ``requests.Session`` and a GET of ``/cgi-bin/sendsms`` per message with
  the same query the backend builds (username, password, to, text,
  charset), each answer checked to be smsbox's "0: Accepted"; the numbers
  and texts are read from the store cobra sends from, so both sides send
  exactly the same messages.
- cobra: ``python -m cobra --db DB send --for DAY --at AT`` on a copy of a
  store of N customers, each with a phone number, an overdue invoice and one
  queued SMS (``tests/outbox_seed.py``, what ``cobra plan`` leaves);
  ``[channels.sms]`` binds the kannel backend to the gateway. Claiming, the
  checks at send time and recording each result are all timed. Run with the
  backend's concurrency (4: ``cobra_s``, ``send_ratio``) and with
  ``concurrency = 1`` (``serial_s``, ``serial_ratio``).
- Reported without a target: ``session_s``, the kannel backend's session
  alone (``--session URL DB``: the same messages, no claims, no bookkeeping),
  which splits cobra's overhead between the backend and the outbox.

The text is one GSM-7 part, like the starter ``reminder-sms`` template's:
the cheapest message for Kannel, so cobra's own cost shows the most.
Each side runs as a subprocess (start-up included on both sides), in rounds
of baseline, session, serial, concurrent; medians compared. Needs Kannel
(``apt-get install kannel kannel-extras``, which the helper runs itself as
root) and cobra's ``test`` extra (the helper is test code that imports
pytest). About 4 minutes on an idle machine; 20 s with ``--quick``.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stores import reporter  # bench/ is on sys.path, as run.py loads this

NAME = "send_kannel"
DESCRIPTION = (
    "cobra send of 10,000 SMS through the kannel backend to a real Kannel "
    "smsbox, against a bare requests.Session loop"
)
# cobra's throughput at least 0.7x the baseline's: its time at most 1/0.7x.
TARGETS = {"send_ratio": 1 / 0.7}

MESSAGES, QUICK_MESSAGES = 10_000, 1_000
ROUNDS, QUICK_ROUNDS = 3, 1
ROOT = Path(__file__).resolve().parent.parent
DAY = "2026-12-03"
AT = "2026-12-03T11:00:00-05:00"  # a Thursday morning in New York
SENDER = "Andesur"
PASSWORD_ENV = "COBRA_BENCH_KANNEL_PASSWORD"
# One 7-bit SMS (under 160 GSM characters), as the starter template writes.
BODY = (
    "Andesur: recuerde pagar la factura {invoice} por US$1.200,00, vencida el "
    "23 nov 2026. Si ya lo hizo, gracias. Responda BAJA para no recibir SMS."
)
DELIVERY_TIMEOUT = 120  # seconds for the fake centre to print a run's messages


def _helpers():
    """The tests' gateway helper and outbox seeder (test code: not in bench/)."""
    for folder in (ROOT, ROOT / "tests"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    import outbox_seed
    from services import kannel

    return kannel, outbox_seed


def messages(db: Path) -> list[tuple[str, str]]:
    """(number, text) of every queued SMS in the store, in outbox order."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT c.value, o.body FROM outbox o JOIN contacts c"
            " ON c.customer_id = o.customer_id AND c.kind = 'phone'"
            " WHERE o.channel = 'sms' ORDER BY o.id"
        ).fetchall()


# --- the two loops run in child processes -------------------------------------------


def baseline(url: str, db: str) -> None:
    """The bare loop: one requests.Session, one GET per message."""
    import requests

    password = os.environ[PASSWORD_ENV]
    with requests.Session() as http:
        for number, text in messages(Path(db)):
            answer = http.get(
                url,
                params={
                    "username": "cobra",
                    "password": password,
                    "from": SENDER,
                    "to": number,
                    "text": text,
                    "charset": "UTF-8",
                },
                timeout=10,
            )
            if answer.status_code != 202 or not answer.text.startswith("0:"):
                raise SystemExit(f"smsbox answered {answer.status_code} {answer.text}")


def session_only(url: str, db: str) -> None:
    """The kannel backend's session alone: no store, no claims, no checks."""
    from datetime import date

    from cobra_plugins.channel_kannel import KannelBackend

    from cobra.channels import ChannelSettings, OutgoingMessage
    from cobra.config import Config

    options = _channel_options(url)
    config = Config({"channels": {"sms": options}}, {})
    settings = ChannelSettings(
        channel="sms", backend="kannel", options=options, config=config, timeout=10.0
    )
    session = KannelBackend().connect(settings)
    try:
        for index, (number, text) in enumerate(messages(Path(db))):
            session.send(
                OutgoingMessage(
                    id=index + 1,
                    key=f"C{index:06d}|friendly-reminder#1|{DAY}|sms",
                    channel="sms",
                    kind="sms",
                    to=number,
                    account=f"C{index:06d}",
                    customer_name=f"Cliente {index} Ltda.",
                    language="es",
                    subject=None,
                    body=text,
                    planned_for=date.fromisoformat(DAY),
                )
            )
    finally:
        session.close()


# --- cobra's side -------------------------------------------------------------------


def _channel_options(url: str) -> dict:
    return {
        "backend": "kannel",
        "url": url,
        "username": "cobra",
        "password_env": PASSWORD_ENV,
        "from": SENDER,
    }


def write_config(path: Path, url: str, concurrency: int | None) -> None:
    options = _channel_options(url)
    if concurrency is not None:
        options["concurrency"] = concurrency
    lines = ["[channels.sms]"]
    for key, value in options.items():
        shown = f'"{value}"' if isinstance(value, str) else str(value)
        lines.append(f"{key} = {shown}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def sent_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE state = 'sent'"
        ).fetchone()[0]


def _env(home: Path, password: str, config: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBRA_")}
    env.update(COBRA_HOME=str(home), COBRA_LOAD_PLUGINS="")
    env[PASSWORD_ENV] = password
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    if config is not None:
        env["COBRA_CONFIG"] = str(config)
    return env


def timed(argv: list[str], env: dict[str, str], what: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(
            f"{what} exited {done.returncode}: {lines[-1] if lines else 'no output'}"
        )
    return took, done.stderr


def delivered(gateway, before: int, count: int, what: str) -> int:
    """Wait until the fake centre printed *count* more messages; check no more."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        now = len(gateway.fake_centre_got())
        if now - before >= count or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(0.5)  # a copy would show up right after
    now = len(gateway.fake_centre_got())
    if now - before != count:
        raise RuntimeError(
            f"{what}: the fake SMS centre got {now - before} messages, not {count}"
        )
    return now


def run(quick: bool) -> dict[str, float]:
    count = QUICK_MESSAGES if quick else MESSAGES
    rounds = QUICK_ROUNDS if quick else ROUNDS
    me = str(Path(__file__).resolve())
    progress = reporter(NAME)
    kannel, outbox_seed = _helpers()
    try:
        kannel.installed()
    except kannel.Unavailable as exc:
        raise RuntimeError(str(exc)) from None

    with tempfile.TemporaryDirectory(prefix="cobra-bench-kannel-") as folder:
        work = Path(folder)
        progress(f"building a store of {count:,} queued SMS")
        started = time.perf_counter()
        template = work / "template.db"
        outbox_seed.seed(template, count, channel="sms", day=DAY, body=BODY)
        build_s = time.perf_counter() - started
        texts = messages(template)
        if len(texts) != count or any(len(text) > 160 for _, text in texts):
            raise RuntimeError("the store does not hold one short SMS a customer")

        listener = kannel.Listener()  # Kannel's config names one; unused here
        try:
            with kannel.running(work / "kannel", listener=listener) as gateway:
                url = gateway.sendsms_url
                configs = {}
                for label, concurrency in (("serial", 1), ("cobra", None)):
                    configs[label] = work / f"{label}.toml"
                    write_config(configs[label], url, concurrency)
                env = _env(work, kannel.PASSWORD)
                times = run_rounds(gateway, me, url, template, configs, env, count,
                                   rounds, work, progress)  # fmt: skip
                status = gateway.status()
        finally:
            listener.close()

    medians = {label: statistics.median(values) for label, values in times.items()}
    base = medians["baseline"]
    accepted = re.search(r"^SMS: received .*$", status, re.MULTILINE)
    print(
        f"{count:,} one-part SMS a run, {rounds} rounds, medians; Kannel 1.4 "
        f"bearerbox + smsbox + fakesmsc on loopback, no delivery reports; store "
        f"built in {build_s:.1f} s"
    )
    for label, what in (
        ("baseline", "requests.Session loop"),
        ("session", "kannel backend session alone"),
        ("serial", "cobra send, concurrency 1"),
        ("cobra", "cobra send, concurrency 4 (default)"),
    ):
        runs = ", ".join(f"{took:.2f}" for took in times[label])
        print(
            f"  {what:<36} {medians[label]:7.2f} s  "
            f"{count / medians[label]:5.0f} msg/s  {base / medians[label]:.2f}x"
            f"  (runs: {runs} s)"
        )
    if accepted:
        print(f"bearerbox at the end: {accepted.group(0)}")
    return {
        "baseline_s": base,
        "session_s": medians["session"],
        "serial_s": medians["serial"],
        "cobra_s": medians["cobra"],
        "baseline_rate": count / base,
        "cobra_rate": count / medians["cobra"],
        "serial_rate": count / medians["serial"],
        "session_ratio": medians["session"] / base,
        "serial_ratio": medians["serial"] / base,
        "send_ratio": medians["cobra"] / base,
        "concurrency_speedup": medians["serial"] / medians["cobra"],
    }


def run_rounds(gateway, me, url, template, configs, env, count, rounds, work,
               progress) -> dict[str, list[float]]:  # fmt: skip
    """Each round runs all four, in reverse order every other round, so that
    whatever the gateway still does after a run does not fall on one side."""
    seen = len(gateway.fake_centre_got())
    order = ["baseline", "session", "serial", "cobra"]
    times: dict[str, list[float]] = {label: [] for label in order}
    for round_number in range(1, rounds + 1):
        progress(f"round {round_number} of {rounds}")
        for label in order if round_number % 2 else reversed(order):
            if label in ("baseline", "session"):
                argv = [sys.executable, me, f"--{label}", url, str(template)]
                took, _ = timed(argv, env, f"the {label}")
                seen = delivered(gateway, seen, count, f"the {label}")
                times[label].append(took)
                continue
            db = work / f"{label}-{round_number}.db"
            shutil.copyfile(template, db)
            argv = [sys.executable, "-m", "cobra", "--db", str(db), "send",
                    "--for", DAY, "--at", AT]  # fmt: skip
            took, stderr = timed(
                argv, {**env, "COBRA_CONFIG": str(configs[label])}, "cobra send"
            )
            if f"Send: sent {count}, failed 0" not in stderr:
                raise RuntimeError(
                    f"cobra send did not send all {count}: {stderr.strip()}"
                )
            if sent_count(db) != count:
                raise RuntimeError(f"the outbox does not show {count} sent")
            seen = delivered(gateway, seen, count, f"cobra send ({label})")
            times[label].append(took)
            db.unlink()
    return times


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("--baseline", "--session"):
        sys.exit(f"usage: {sys.argv[0]} --baseline|--session SENDSMS_URL STORE")
    if sys.argv[1] == "--baseline":
        baseline(sys.argv[2], sys.argv[3])
    else:
        session_only(sys.argv[2], sys.argv[3])
