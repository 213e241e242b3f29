"""What a cobra config file may contain, and how each value is checked.

The schema is data: one :class:`Table` per TOML table, one :class:`Key` per
setting. ``cobra config check`` walks a parsed file against it and reports
every problem with the file and the dotted key; ``cobra config show`` uses it
to tell secrets from ordinary values. Defaults are not here: they are the
values in the starter file ``config/cobra.toml``, so there is one place to
read them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

# A checker returns None when the value is fine, or a sentence saying what is
# wrong with it ("expected an integer, got a string").
Checker = Callable[[object], "str | None"]


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return names.get(type(value), type(value).__name__)


def string(value: object) -> str | None:
    return (
        None
        if isinstance(value, str)
        else f"expected a string, got {_type_name(value)}"
    )


def boolean(value: object) -> str | None:
    return (
        None
        if isinstance(value, bool)
        else f"expected true or false, got {_type_name(value)}"
    )


def integer(minimum: int | None = None) -> Checker:
    def check(value: object) -> str | None:
        # TOML booleans are ints to Python; a setting that wants a count must
        # not accept `true`.
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer, got {_type_name(value)}"
        if minimum is not None and value < minimum:
            return f"must be at least {minimum}, got {value}"
        return None

    return check


def number(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, got {_type_name(value)}"
    return None


def numbers(value: object) -> str | None:
    """A table whose every value is a number."""
    if not isinstance(value, dict):
        return f"expected a table, got {_type_name(value)}"
    for name, item in value.items():
        if number(item):
            return f"{name}: expected a number, got {_type_name(item)}"
    return None


def bands(value: object) -> str | None:
    """Per currency, two increasing amounts: where medium and large start."""
    if not isinstance(value, dict):
        return f"expected a table, got {_type_name(value)}"
    for code, limits in value.items():
        if currency(code) and code != "default":
            return f"{code}: {currency(code)}"
        if (
            not isinstance(limits, list)
            or len(limits) != 2
            or any(number(v) for v in limits)
            or not 0 <= limits[0] < limits[1]
        ):
            return f"{code}: expected [medium_from, large_from], two increasing amounts"
    return None


# The checkers below live with the code that reads the setting, which imports
# cobra.config (and so this module): they are imported only when called.


def offer_min_instalment(value: object) -> str | None:
    from cobra.offer import min_instalment_problem

    return min_instalment_problem(value)


def offer_options(value: object) -> str | None:
    from cobra.offer import options_problem

    return options_problem(value)


def contact_rule_overrides(value: object) -> str | None:
    from cobra.guard import overrides_problem

    return overrides_problem(value)


def diagnosis_rules(value: object) -> str | None:
    from cobra.diagnosis import rules_problem

    return rules_problem(value)


def fraction(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number between 0 and 1, got {_type_name(value)}"
    if not 0 <= value <= 1:
        return f"must be between 0 and 1, got {value}"
    return None


def choice(*allowed: str) -> Checker:
    def check(value: object) -> str | None:
        if not isinstance(value, str):
            return f"expected a string, got {_type_name(value)}"
        if value not in allowed:
            return f"must be one of {', '.join(allowed)}; got {value!r}"
        return None

    return check


def pattern(regex: str, what: str) -> Checker:
    compiled = re.compile(regex)

    def check(value: object) -> str | None:
        if not isinstance(value, str):
            return f"expected a string, got {_type_name(value)}"
        if not compiled.fullmatch(value):
            return f"expected {what}, got {value!r}"
        return None

    return check


def currency(value: object) -> str | None:
    from cobra.money import is_currency

    if not isinstance(value, str):
        return f"expected a string, got {_type_name(value)}"
    if not is_currency(value):
        return f"{value!r} is not an ISO 4217 currency code (for example EUR, USD, CLP)"
    return None


def timezone(value: object) -> str | None:
    if not isinstance(value, str):
        return f"expected a string, got {_type_name(value)}"
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{value!r} is not an IANA time zone (for example America/Santiago, UTC)"
    return None


# Secrets never sit in the file: the key holds the *name* of an environment
# variable, and by convention its name ends in `_env` (`password_env`).
env_var_name = pattern(r"[A-Za-z_][A-Za-z0-9_]*", "the name of an environment variable")


@dataclass(frozen=True)
class Key:
    check: Checker
    doc: str
    secret: bool = False
    is_path: bool = False


@dataclass(frozen=True)
class Table:
    keys: dict[str, Key | Table | TableMap]
    doc: str = ""


@dataclass(frozen=True)
class TableMap:
    """A table of named sub-tables that share one shape, like ``[channels.sms]``.

    ``open_keys`` lets the sub-tables carry settings the core does not know:
    a channel's options belong to its backend plugin, which checks them.
    """

    item: Table
    doc: str = ""
    open_keys: bool = False
    extra: dict[str, Key] = field(default_factory=dict)


def strings(value: object) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return f"expected an array of strings, got {_type_name(value)}"
    return None


def positive(value: object) -> str | None:
    problem = number(value)
    if problem is None and value <= 0:
        return f"must be more than 0, got {value}"
    return problem


_SOURCE_KEYS = ("source", "importer", "sync", "options")


def source_tables(value: object) -> str | None:
    """``[[sources]]``: each a table with a source and optional settings."""
    if not isinstance(value, list):
        return f"expected [[sources]] tables, got {_type_name(value)}"
    for number, item in enumerate(value, start=1):
        where = f"source {number}"
        if not isinstance(item, dict):
            return f"{where}: expected a table, got {_type_name(item)}"
        unknown = sorted(set(item) - set(_SOURCE_KEYS))
        if unknown:
            return (
                f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(_SOURCE_KEYS)})"
            )
        if not isinstance(item.get("source"), str) or not item["source"].strip():
            return f"{where}: `source` (a file, folder or URL) is missing"
        if "importer" in item and not isinstance(item["importer"], str):
            return f"{where}: importer: expected a string"
        if "sync" in item and not isinstance(item["sync"], bool):
            return f"{where}: sync: expected true or false"
        if "options" in item and not isinstance(item["options"], dict):
            return f"{where}: options: expected a table"
    return None


def secret_key(doc: str) -> Key:
    return Key(env_var_name, doc, secret=True)


# Keys every channel table may carry, whatever its backend; `cobra send`
# reads them. The rest of the table belongs to the backend.
CHANNEL_KEYS: dict[str, Key] = {
    "backend": Key(string, "The channel backend plugin to use."),
    "kind": Key(
        string, "The kind of message (email, sms...) for a channel of your own."
    ),
    "concurrency": Key(
        integer(minimum=1), "Most messages sent at once (capped by the backend's own)."
    ),
    "rate_limit": Key(positive, "Most messages a second."),
    "timeout": Key(positive, "Network timeout in seconds."),
}


SCHEMA = Table(
    {
        "company": Table(
            {
                "name": Key(string, "Your company's name, as customers know it."),
                "currency": Key(currency, "Currency assumed when a source names none."),
                "country": Key(
                    pattern(
                        r"[A-Z]{2}", "an ISO 3166-1 alpha-2 country code such as CL"
                    ),
                    "Country assumed for customers whose country is unknown.",
                ),
                "timezone": Key(timezone, "Time zone of the collections team."),
                "language": Key(
                    pattern(
                        r"[a-z]{2,3}(-[A-Z]{2})?", "a language tag such as es or en-US"
                    ),
                    "Language of messages for customers whose language is unknown.",
                ),
                "collections_manager_email": Key(
                    pattern(
                        r"[^@\s]+@[^@\s]+", "an e-mail address such as ar@example.com"
                    ),
                    "Who gets a third-party brief when the customer has no "
                    "salesperson.",
                ),
            },
            "Who is collecting.",
        ),
        "store": Table(
            {
                "path": Key(
                    string,
                    "SQLite database file; relative to this config file.",
                    is_path=True,
                ),
                "synchronous": Key(
                    choice("normal", "full"),
                    "normal: commits survive a crash of cobra; full: also a power failure.",
                ),
                "busy_timeout_ms": Key(
                    integer(minimum=0),
                    "How long to wait for another process holding the database.",
                ),
            },
            "Where cobra keeps its data.",
        ),
        "log": Table(
            {
                "level": Key(choice("debug", "info", "warning", "error"), "Log level."),
                "format": Key(choice("text", "json"), "Log line format on stderr."),
                "file": Key(
                    string, "Also append log lines to this file.", is_path=True
                ),
            },
            "Logging; -v, -q, --log-format and --log-file override it.",
        ),
        "import": Table(
            {
                "sync_max_close_share": Key(
                    fraction,
                    "Largest share of open invoices `import --sync` may close without --force.",
                ),
            },
            "Importing.",
        ),
        "diagnosis": Table(
            {
                "thresholds": Key(
                    numbers, "Named values the rules compare facts with."
                ),
                "rules": Key(
                    diagnosis_rules, "Rules tried in order; the first that holds wins."
                ),
                "unknown_confidence": Key(
                    fraction, "Confidence of `unknown` when no rule holds."
                ),
            },
            "Why customers do not pay: rules over the evidence.",
        ),
        "prioritize": Table(
            {
                "weights": Table(
                    {
                        name: Key(number, f"Weight of the {name} component.")
                        for name in (
                            "amount",
                            "age",
                            "likelihood",
                            "broken_promises",
                            "staleness",
                        )
                    },
                    "Weights of the score's components.",
                ),
                "age_buckets": Table(
                    {
                        name: Key(
                            number, f"Age factor for invoices {name} days overdue."
                        )
                        for name in ("1-30", "31-60", "61-90", "90+")
                    },
                    "Age factor of each aging bucket, 0-1.",
                ),
                "segments": Key(numbers, "Score multiplier per customer segment."),
                "actions": Table(
                    {
                        reason: Key(
                            string, f"Next step for customers who are {reason}."
                        )
                        for reason in (
                            "forgot",
                            "cannot_pay",
                            "dissatisfied",
                            "unaware",
                            "fraud",
                            "unknown",
                        )
                    },
                    "The next suggested action for each reason.",
                ),
            },
            "How the worklist is ranked.",
        ),
        "plan": Table(
            {
                "strategies_dir": Key(
                    string,
                    "Folder of your own strategies (they replace shipped ones).",
                    is_path=True,
                ),
                "seed": Key(
                    integer(), "Seed for assigning step variants to customers."
                ),
                "amount_bands": Key(
                    bands, "Per currency, where the medium and large bands start."
                ),
            },
            "Planning contacts.",
        ),
        "offer": Table(
            {
                "max_instalments": Key(
                    integer(minimum=1), "Most monthly instalments a plan may have."
                ),
                "min_down_payment_share": Key(
                    fraction, "Smallest down payment, as a share of what is owed."
                ),
                "max_monthly_interest": Key(
                    fraction, "Largest monthly interest rate on the financed balance."
                ),
                "max_discount_share": Key(
                    fraction, "Largest discount for settling now, as a share."
                ),
                "min_instalment": Key(
                    offer_min_instalment,
                    "Smallest instalment per currency (and `default`), in major units.",
                ),
                "first_due_in_days": Key(
                    integer(minimum=0), "Days from the offer to the first payment."
                ),
                "instalment_every": Key(
                    choice("month"), "How often instalments fall due."
                ),
                "options": Key(
                    offer_options,
                    'Options offered: "settle_now" and counts of instalments.',
                ),
            },
            "Payment-plan options `cobra offer` may propose.",
        ),
        "contact_rules": Table(
            {
                "default_profile": Key(
                    pattern(r"(?:[A-Z]{2})?", 'a country code such as CL, or ""'),
                    "Profile for customers whose country has none; empty: hold them.",
                ),
                "profiles_dir": Key(
                    string,
                    "Folder of your own profiles (XX.toml replaces the shipped XX).",
                    is_path=True,
                ),
                "horizon_days": Key(
                    integer(minimum=1),
                    "Furthest a contact is moved forward before it is held.",
                ),
                "overrides": Key(
                    contact_rule_overrides,
                    "Per country, profile keys that replace the profile's own.",
                ),
            },
            "Contact rules: when and how often customers may be contacted.",
        ),
        "messages": Table(
            {
                "templates_dir": Key(
                    string,
                    "Folder of message templates that replace the shipped ones.",
                    is_path=True,
                ),
            },
            "Message templates; see docs/templates.md.",
        ),
        "sources": Key(
            source_tables,
            "What `cobra run` imports each day: [[sources]] tables.",
        ),
        "send": Table(
            {
                "max_attempts": Key(
                    integer(minimum=1),
                    "Attempts before a message with transient errors is failed.",
                ),
                "backoff_seconds": Key(
                    positive, "Wait after the first transient error; doubles each time."
                ),
                "max_backoff_seconds": Key(positive, "Longest wait between attempts."),
                "max_wait_seconds": Key(
                    number,
                    "Longest a `cobra send` waits for a retry before leaving it "
                    "to the next run.",
                ),
                "lease_seconds": Key(
                    positive,
                    "After this long, a claim by a sender on another machine is "
                    "taken as abandoned.",
                ),
                "timeout_seconds": Key(
                    positive, "Network timeout of a channel without its own `timeout`."
                ),
            },
            "How `cobra send` retries, waits and times out.",
        ),
        "learn": Table(
            {
                "window_days": Key(
                    integer(minimum=1),
                    "A contact is a success when the customer pays within this many days.",
                ),
            },
            "Learning which step variant works (steps with learn = true).",
        ),
        "report": Table(
            {
                "period_days": Key(
                    integer(minimum=1),
                    "Days a report covers when no period is given.",
                ),
                "allocation_days": Key(
                    integer(minimum=1),
                    "Days of planned contacts the variant allocation is read from.",
                ),
            },
            "`cobra report`: default period and the variant allocation.",
        ),
        "follow_up": Table(
            {
                "outcomes": Key(
                    strings, "Outcomes `cobra log` accepts besides the built-in ones."
                ),
                "promise_grace_days": Key(
                    integer(minimum=0),
                    "Days after a promised date before an unpaid promise is broken.",
                ),
                "instalment_reminder_days": Key(
                    integer(minimum=0),
                    "Days before each payment-plan instalment a reminder goes out.",
                ),
                "instalment_reminder_channel": Key(
                    string, "The channel instalment reminders use."
                ),
            },
            "Promises, payment plans and the outcomes collectors log.",
        ),
        "receipts": Table(
            {
                "public_url": Key(
                    string,
                    "Address at which providers reach `cobra receipts serve`; "
                    "empty: ask for no delivery reports.",
                ),
                "host": Key(string, "Interface `cobra receipts serve` listens on."),
                "port": Key(
                    integer(minimum=1), "Port `cobra receipts serve` listens on."
                ),
            },
            "Delivery reports and replies pushed by providers.",
        ),
        "replies": Table(
            {
                "opt_out_words": Key(
                    strings,
                    "A reply whose first word is one of these opts the customer "
                    "out of the channel (any case, accents ignored).",
                ),
                "email": Table(
                    {
                        "host": Key(
                            string, "IMAP server of the mailbox replies reach."
                        ),
                        "port": Key(integer(minimum=1), "IMAP port (993 with TLS)."),
                        "security": Key(
                            choice("tls", "starttls", "none"), "How to secure IMAP."
                        ),
                        "username": Key(string, "IMAP login."),
                        "password_env": secret_key(
                            "Environment variable holding the IMAP password."
                        ),
                        "mailbox": Key(string, "Folder to read (INBOX)."),
                        "processed_mailbox": Key(
                            string, "Folder read messages are moved to."
                        ),
                        "timeout": Key(positive, "IMAP network timeout, seconds."),
                        "ca_file": Key(
                            string,
                            "CA certificates to trust for the IMAP server (PEM).",
                            is_path=True,
                        ),
                    },
                    "The mailbox `cobra receipts fetch` reads replies and bounces from.",
                ),
            },
            "Replies from customers: opt-out words, and where e-mail replies arrive.",
        ),
        "channels": TableMap(
            Table(CHANNEL_KEYS),
            "Binds each channel name used by strategies to a backend plugin.",
            open_keys=True,
        ),
    }
)
