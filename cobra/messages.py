"""Message templates: what cobra says to customers, and the briefs for people.

Each template is a text file ``<language>/<name>.j2``: an optional front
matter of ``key: value`` lines up to the first blank line, then a Jinja2 body.
The shipped templates live in the starter package (``config/templates/``,
installed as ``cobra_starter/templates/``); a folder named by
``[messages] templates_dir`` lies over them file by file.

Templates are rendered in a sandbox: they are configuration that anyone with
access to the config folder can edit, so they must not reach Python internals
or change the data they are given. Undefined variables and printed ``None``
values are errors rather than blanks, because a message with a hole in it
("your invoice  is overdue") is worse than no message; ``cobra config check``
finds such holes before a customer does.

See docs/templates.md for the format, the variables and the filters.
"""

from __future__ import annotations

import difflib
import re
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from cobra.errors import CobraError, ConfigError

__all__ = [
    "MessageContext",
    "MessageTemplateError",
    "Rendered",
    "TemplateProblem",
    "check_templates",
    "default_opt_out",
    "language_candidates",
    "list_templates",
    "render",
    "sample_context",
]

SUFFIX = ".j2"
FALLBACK_LANGUAGE = "en"

# Front matter keys cobra knows. Only `subject` is itself a template; the rest
# describe the template so a planner (and a person reading `docs/`) can pick it.
FRONT_MATTER = {
    "subject": "subject line of an email, or title of a brief (a template)",
    "description": "what the template is for, in one sentence",
    "channel": "the channel it is written for: email, sms, whatsapp, call, ...",
    "audience": "customer (the default) or staff (a brief for a person)",
    "reason": "the diagnosis it fits: forgot, cannot_pay, unaware, ...",
    "method": "suggestion, persuasion or authority",
    "tactic": "the influence tactic it uses, such as legitimating",
    "tone": "friendly, firm, ...",
}

# Channels where the message is spoken, so no written opt-out line fits.
SPOKEN_CHANNELS = frozenset({"call", "visit"})

# The standard opt-out sentence per language and kind of channel. Kept free of
# characters outside the GSM 7-bit alphabet, so an SMS stays one segment.
OPT_OUT = {
    "en": {
        "short": "Reply STOP to opt out.",
        "email": "To stop receiving these emails, reply with the word STOP.",
    },
    "es": {
        "short": "Para darse de baja, responda BAJA.",
        "email": "Para dejar de recibir estos correos, responda con la palabra BAJA.",
    },
}
SHORT_CHANNELS = frozenset({"sms", "whatsapp"})

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_LANGUAGE = re.compile(r"([a-z]{2,3})(?:[-_]([A-Za-z]{2}))?")
_META_LINE = re.compile(r"([a-z][a-z_]*):(?:[ \t]+(.*))?")

# The locale of the message being rendered. A context variable rather than a
# template variable, so that filters inside macros imported without context
# still format amounts and dates for the right customer.
_LOCALE: ContextVar[str] = ContextVar("cobra_message_locale", default="en")


# -- What templates receive ----------------------------------------------------

INVOICE_KEYS = (
    "number",
    "issue_date",
    "due_date",
    "currency",
    "amount",
    "balance",
    "days_overdue",
)


@dataclass
class MessageContext:
    """Everything a template may say about one planned contact.

    Amounts are integer minor units with their ISO 4217 currency, as
    everywhere in cobra. Each field is a template variable of the same name;
    docs/templates.md describes them.
    """

    company: str
    customer_name: str
    account: str
    language: str | None = None  # the customer's language tag (es, en-US)
    country: str | None = None  # ISO 3166-1 alpha-2; picks the locale (es_CL)
    # Each: number, issue_date, due_date, currency, amount, balance (minor
    # units), days_overdue; optionally disputed (bool). A message to the
    # customer leaves the disputed ones out (see _namespace).
    invoices: list[dict] = field(default_factory=list)
    # currency -> overdue minor units, disputed invoices included; derived
    # from the invoices when empty.
    overdue: dict[str, int] = field(default_factory=dict)
    objective: str = ""
    reason: str = "unknown"
    method: str = ""  # suggestion, persuasion, authority
    tactic: str = ""  # rational_persuasion, legitimating, ...
    tone: str = "friendly"
    evidence: list[str] = field(default_factory=list)  # history, in sentences
    channel: str = "email"
    opt_out: str | None = None  # the line the contact rules require, if any
    contact_name: str | None = None  # the person addressed at the customer
    salesperson: str | None = None  # the account's salesperson (third party)
    collector: str | None = None  # who signs the message or makes the call
    reply_to: str | None = None  # where the customer can answer
    pay_url: str | None = None  # a payment link
    payment_instructions: str | None = None  # bank details, in full sentences
    pay_by: date | None = None  # the date asked for (final notice: deadline)
    escalation: str | None = None  # what follows a final notice, as a phrase
    terms: str | None = None  # the agreement the debt comes from
    # Payment-plan options: installments, installment (minor units),
    # currency, first_due (date), and optionally every ("month", "week").
    plan_options: list[dict] = field(default_factory=list)
    billing_details: list[str] = field(default_factory=list)  # what was billed
    # The payment-plan instalment a reminder is about: number, count, due
    # (date), currency, amount (minor units still owed on it).
    instalment: dict | None = None
    extra: dict = field(default_factory=dict)  # more variables, by name


# Names a template can use besides the fields above, computed from them.
DERIVED = {
    "totals": "the overdue amounts as Money, one per currency, by currency code",
    "disputed_invoices": "the invoices in dispute, which a customer message leaves "
    "out of invoices and totals",
    "disputed_totals": "the balances of invoices in dispute, as Money per currency",
    "undisputed_totals": "the overdue balances not in dispute, as Money per currency",
    "oldest": "the invoice with the most days overdue, or None",
    "locale": "the Babel locale amounts and dates are written in (es_CL)",
    "template_language": "the language of the template being rendered",
}


STAFF = "staff"  # the audience of a brief, written for a person


def _for_customer(meta: dict) -> bool:
    """Whether a template's front matter addresses the customer (the default)."""
    return meta.get("audience", "customer") != STAFF


@dataclass(frozen=True)
class Rendered:
    """A rendered message: subject (None without one), body, and its source."""

    subject: str | None
    body: str
    template_path: Path
    name: str = ""
    language: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def to_customer(self) -> bool:
        """False for a brief written for a person (``audience = "staff"``)."""
        return _for_customer(self.meta)


class MessageTemplateError(ConfigError):
    """A template that cannot be parsed or rendered, located by file and line."""

    def __init__(self, path: str, line: int | None, detail: str, note: str = ""):
        self.path, self.line, self.detail = path, line, detail
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {detail}{note}")


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong in a template file, found by :func:`check_templates`."""

    path: str
    line: int | None
    message: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


# -- Languages and locales -----------------------------------------------------


def _split_language(tag: str | None) -> tuple[str, str] | None:
    if not tag:
        return None
    match = _LANGUAGE.fullmatch(tag.strip())
    if not match:
        return None
    return match[1].lower(), (match[2] or "").upper()


def _tag(base: str, region: str) -> str:
    return f"{base}-{region}" if region else base


def language_candidates(
    language: str | None, company_language: str | None = None
) -> list[str]:
    """The template languages to try, best first.

    The exact tag (es-CL), then its base language (es), then the company's
    language, then English.
    """
    found: list[str] = []
    for tag in (language, company_language):
        parts = _split_language(tag)
        if parts:
            found += [_tag(*parts), parts[0]]
    found.append(FALLBACK_LANGUAGE)
    return list(dict.fromkeys(found))


def _locale(template_language: str, customer_language: str | None, country: str | None):
    """The Babel locale for a message: its language, the customer's region."""
    from babel import localedata

    base, region = _split_language(template_language) or (FALLBACK_LANGUAGE, "")
    customer = _split_language(customer_language)
    regions = [region]
    if customer and customer[0] == base:
        regions.append(customer[1])
    regions.append((country or "").upper())
    for candidate in regions:
        if candidate and localedata.exists(f"{base}_{candidate}"):
            return f"{base}_{candidate}"
    return base if localedata.exists(base) else FALLBACK_LANGUAGE


def default_opt_out(language: str | None, channel: str) -> str:
    """The standard opt-out line for a channel, in ``language`` or English.

    The contact-rule profile decides whether a message needs one; this only
    supplies the words.
    """
    base = (_split_language(language) or (FALLBACK_LANGUAGE, ""))[0]
    kind = "short" if channel in SHORT_CHANNELS else "email"
    return OPT_OUT.get(base, OPT_OUT[FALLBACK_LANGUAGE])[kind]


# -- Filters -------------------------------------------------------------------


def _as_money(value, currency):
    from cobra.money import Money, normalize_currency

    if isinstance(value, Money):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2 and currency is None:
        value, currency = value
    if isinstance(value, bool) or not isinstance(value, int) or currency is None:
        raise ValueError(
            f"the money filter takes a Money, a (minor units, currency) pair or "
            f"minor units with money(currency); got {value!r}"
        )
    return Money(value, normalize_currency(currency))


def _money_filter(value, currency: str | None = None) -> str:
    """An amount as the customer's locale writes it: $1.234.567 in es_CL."""
    return _as_money(value, currency).format(_LOCALE.get())


def _as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"the date filter takes a date or YYYY-MM-DD text, got {value!r}")


def _date_filter(value, format: str = "long") -> str:
    """A date in the customer's language: "15 de enero de 2025" (long)."""
    return _formatted_date(_as_date(value), format, _LOCALE.get())


@lru_cache(maxsize=8192)
def _formatted_date(day: date, format: str, locale) -> str:  # noqa: A002 - Babel's name
    # Cached: a day's plan writes the same few hundred due dates thousands
    # of times, and Babel parses its pattern on every call.
    from babel.dates import format_date

    return format_date(day, format=format, locale=locale)


def _refuse_none(value):
    # Printing None would put a hole (or the word "None") in a customer's
    # message; an optional value must be guarded with {% if %}.
    if value is None:
        from jinja2.exceptions import TemplateRuntimeError

        raise TemplateRuntimeError(
            "a value printed here is not set (None) for this contact; "
            "guard it with {% if ... %}"
        )
    return value


# -- Files ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Parsed:
    text: str
    meta: dict
    meta_lines: dict
    body_start: int  # index (0-based) of the body's first line


def _split_front_matter(text: str) -> _Parsed:
    """Separate the ``key: value`` lines before the first blank line.

    Leading lines count as front matter only when every one of them up to a
    blank line has that form, so a body beginning with "Hello," stays a body.
    """
    lines = text.split("\n")
    meta: dict[str, str] = {}
    where: dict[str, int] = {}
    for index, raw in enumerate(lines):
        line = raw.rstrip("\r")
        if not line.strip():
            if index:
                return _Parsed(text, meta, where, index + 1)
            break
        match = _META_LINE.fullmatch(line)
        if not match:
            break
        meta[match[1]] = (match[2] or "").strip()
        where[match[1]] = index + 1
    return _Parsed(text, {}, {}, 0)


@lru_cache(maxsize=256)
def _parse_file(path: str, _mtime_ns: int, _size: int) -> _Parsed:
    # Keyed on the file's mtime and size, so an edited template is re-read.
    return _split_front_matter(Path(path).read_text("utf-8"))


def _read(path: Path) -> _Parsed:
    stat = path.stat()
    return _parse_file(str(path), stat.st_mtime_ns, stat.st_size)


def _body_source(parsed: _Parsed) -> str:
    # Blank lines stand in for the front matter, so Jinja's line numbers are
    # the file's line numbers.
    lines = parsed.text.split("\n")
    return "\n" * parsed.body_start + "\n".join(lines[parsed.body_start :])


def _meta_source(parsed: _Parsed, key: str) -> str:
    return "\n" * (parsed.meta_lines[key] - 1) + parsed.meta[key]


def shipped_dir() -> Path:
    """The templates that ship with cobra."""
    from importlib.resources import files

    return Path(str(files("cobra_starter").joinpath("templates")))


def _user_dir(config) -> tuple[Path | None, str | None]:
    """The configured templates folder, and where it was set (for errors)."""
    if config is None:
        return None, None
    value = config.get("messages.templates_dir")
    if not isinstance(value, str) or not value.strip():
        return None, None
    return config.resolve_path(value), config.describe_source("messages.templates_dir")


def _folders(config, *, strict: bool = True) -> tuple[Path, ...]:
    user, source = _user_dir(config)
    if user is None:
        return (shipped_dir(),)
    if not user.is_dir():
        if strict:
            raise ConfigError(
                f"{source}: messages.templates_dir: folder {user} does not exist; "
                "create it or remove the setting to use the shipped templates"
            )
        return (shipped_dir(),)
    return (user, shipped_dir())


def list_templates(config=None) -> dict[str, dict[str, Path]]:
    """Every template name, with the file that serves each language.

    A file in the user's folder hides the shipped file of the same language
    and name. Partials (names starting with ``_``) are left out.
    """
    found: dict[str, dict[str, Path]] = {}
    for folder in _folders(config, strict=False):
        for path in sorted(folder.glob(f"*/*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            if name.startswith("_"):
                continue
            found.setdefault(name, {}).setdefault(path.parent.name, path)
    return dict(sorted(found.items()))


# -- The Jinja environment -----------------------------------------------------


@lru_cache(maxsize=16)
def _environment(folders: tuple[Path, ...]):
    from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound
    from jinja2.loaders import split_template_path
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Loader(BaseLoader):
        """``<language>/<name>.j2`` from the first folder that has it.

        ``...j2#subject`` names the subject line of the same file.
        """

        def get_source(self, environment, template):
            name, _, key = template.partition("#")
            pieces = split_template_path(name)  # refuses "..", like any loader
            for folder in folders:
                path = folder.joinpath(*pieces)
                if path.is_file():
                    break
            else:
                raise TemplateNotFound(template)
            try:
                parsed = _read(path)
            except UnicodeDecodeError:
                raise MessageTemplateError(str(path), None, "not UTF-8 text") from None
            if key:
                if key not in parsed.meta:
                    raise TemplateNotFound(template)
                source = _meta_source(parsed, key)
            else:
                source = _body_source(parsed)
            stat = path.stat()
            # Size as well as time: two edits within the file system's clock
            # tick would otherwise look like one.
            seen = (stat.st_mtime_ns, stat.st_size)

            def uptodate() -> bool:
                try:
                    now = path.stat()
                except OSError:
                    return False
                return (now.st_mtime_ns, now.st_size) == seen

            return source, str(path), uptodate

    class Environment(ImmutableSandboxedEnvironment):
        def join_path(self, template, parent):
            # `{% import "_invoices.j2" %}` means the partial in the same
            # language folder as the template that imports it.
            if "/" in template or "/" not in parent:
                return template
            return parent.rsplit("/", 1)[0] + "/" + template

    env = Environment(
        loader=Loader(),
        undefined=StrictUndefined,
        autoescape=False,  # plain text; HTML email will need its own setting
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_refuse_none,
        auto_reload=True,
    )
    env.filters["money"] = _money_filter
    env.filters["date"] = _date_filter
    return env


def _slug(text: str | None) -> str:
    return re.sub(r"[\s-]+", "_", (text or "").strip().lower())


def _invoice(item: dict) -> dict:
    missing = [key for key in INVOICE_KEYS if key not in item]
    if missing:
        raise ValueError(
            f"invoice {item.get('number', '?')!r} lacks {', '.join(missing)} "
            "for the message templates"
        )
    result = {"disputed": False, **item}
    for key in ("issue_date", "due_date"):
        if result[key] is not None:
            result[key] = _as_date(result[key])
    return result


def undisputed_overdue(invoices: list[dict]) -> dict[str, int]:
    """currency -> the overdue balance outside any dispute: what a customer
    message may ask to be paid (and a payment plan be offered for)."""
    found: dict[str, int] = {}
    for item in invoices:
        if item["days_overdue"] > 0 and not item["disputed"]:
            found[item["currency"]] = found.get(item["currency"], 0) + item["balance"]
    return found


def _namespace(
    context: MessageContext,
    template_language: str,
    locale: str,
    *,
    to_customer: bool = True,
) -> dict:
    """The template's variables. A message *to_customer* demands nothing in
    dispute: the disputed invoices are left out of ``invoices``, ``totals``
    and ``oldest`` (``disputed_invoices`` still names them); a brief for a
    person lists them, marked, with the totals as owed."""
    from cobra.money import Money

    values = {f.name: getattr(context, f.name) for f in fields(context)}
    invoices = [_invoice(item) for item in context.invoices]
    in_dispute = [item for item in invoices if item["disputed"]]
    overdue = dict(context.overdue)
    if not overdue:
        for item in invoices:
            if item["days_overdue"] > 0:
                code = item["currency"]
                overdue[code] = overdue.get(code, 0) + item["balance"]
    disputed: dict[str, int] = {}
    for item in in_dispute:
        disputed[item["currency"]] = disputed.get(item["currency"], 0) + item["balance"]
    undisputed = undisputed_overdue(invoices)
    if to_customer and in_dispute:
        invoices = [item for item in invoices if not item["disputed"]]
        for item in in_dispute:
            code = item["currency"]
            if item["days_overdue"] > 0 and code in overdue:
                overdue[code] -= item["balance"]
        overdue = {code: amount for code, amount in overdue.items() if amount > 0}
    values.update(
        invoices=invoices,
        disputed_invoices=in_dispute,
        overdue=overdue,
        disputed_totals=[Money(disputed[code], code) for code in sorted(disputed)],
        undisputed_totals=[
            Money(undisputed[code], code) for code in sorted(undisputed)
        ],
        method=_slug(context.method),
        tactic=_slug(context.tactic),
        reason=_slug(context.reason) or "unknown",
        totals=[Money(overdue[code], code) for code in sorted(overdue)],
        oldest=max(invoices, key=lambda i: i["days_overdue"], default=None),
        locale=locale,
        template_language=template_language,
    )
    clash = set(context.extra) & set(values)
    if clash:
        raise ValueError(
            f"extra variables hide built-in ones: {', '.join(sorted(clash))}"
        )
    values.update(context.extra)
    return values


def known_variables() -> set[str]:
    """The variables every template receives (besides a context's extras)."""
    return {f.name for f in fields(MessageContext)} | set(DERIVED)


# -- Errors --------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    from jinja2.exceptions import SecurityError, TemplateError, TemplateNotFound

    if isinstance(exc, TemplateNotFound):
        return f"no template {exc.name!r} to import or include"
    if isinstance(exc, SecurityError):
        return (
            f"refused by the sandbox: {exc} Templates may only use the variables "
            "and filters listed in docs/templates.md"
        )
    if isinstance(exc, (TemplateError, CobraError)):
        return str(exc)
    return f"{exc} ({type(exc).__name__})"


def _located(exc: BaseException) -> tuple[str, int | None] | None:
    """The template file and line an exception comes from, if it does."""
    from jinja2.exceptions import TemplateSyntaxError

    if isinstance(exc, TemplateSyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    found = None
    tb = exc.__traceback__
    while tb is not None:
        # Jinja rewrites the traceback so that a template's frames carry its
        # file name and line: the innermost one is where the template failed.
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(SUFFIX):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _template_error(exc: Exception, name: str, language: str) -> MessageTemplateError:
    if isinstance(exc, MessageTemplateError):
        return exc
    where = _located(exc)
    if where is None:
        raise exc  # not caused by a template: a bug, shown with its traceback
    return MessageTemplateError(
        where[0], where[1], _describe(exc), f" (template {name!r}, language {language})"
    )


# -- Rendering -----------------------------------------------------------------


def _find(name: str, candidates: list[str], folders: tuple[Path, ...]):
    for language in candidates:
        for folder in folders:
            path = folder / language / f"{name}{SUFFIX}"
            if path.is_file():
                return language, path
    return None


def _not_found(name: str, candidates: list[str], config) -> ConfigError:
    known = list(list_templates(config))
    hint = difflib.get_close_matches(name, known, n=1)
    extra = f"; did you mean {hint[0]!r}?" if hint else ""
    return ConfigError(
        f"no message template {name!r} in any of the languages "
        f"{', '.join(candidates)}{extra} (templates: {', '.join(known) or 'none'})"
    )


def _tidy(text: str) -> str:
    # Conditionals leave trailing spaces and runs of blank lines; a message
    # reads better without them.
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def render(
    name: str, language: str | None, context: MessageContext, config=None
) -> Rendered:
    """Render template ``name`` for one contact.

    The language is ``language`` (or the customer's) when a template exists
    in it, else its base language, else the company's, else English. Amounts
    and dates are written for that language and the customer's country.
    Raises ConfigError for a missing template and MessageTemplateError (a
    ConfigError) naming the file and line for one that fails.
    """
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{name!r} is not a template name such as reminder-friendly")
    folders = _folders(config)
    company_language = config.get("company.language") if config is not None else None
    candidates = language_candidates(language or context.language, company_language)
    found = _find(name, candidates, folders)
    if found is None:
        raise _not_found(name, candidates, config)
    chosen, path = found
    return _render_file(name, chosen, path, context, folders)


def _render_file(
    name: str, language: str, path: Path, context: MessageContext, folders
) -> Rendered:
    env = _environment(folders)
    locale = _locale(language, context.language, context.country)
    template_name = f"{language}/{name}{SUFFIX}"
    try:
        parsed = _read(path)
    except UnicodeDecodeError:
        raise MessageTemplateError(str(path), None, "not UTF-8 text") from None
    to_customer = _for_customer(parsed.meta)
    values = _namespace(context, language, locale, to_customer=to_customer)
    token = _LOCALE.set(locale)
    try:
        body = env.get_template(template_name).render(values)
        subject = None
        if "subject" in parsed.meta:
            subject = env.get_template(f"{template_name}#subject").render(values)
    except UnicodeDecodeError:
        raise MessageTemplateError(str(path), None, "not UTF-8 text") from None
    except Exception as exc:  # noqa: BLE001 - anything a template does wrong
        # Whatever the template triggered (an undefined name, the sandbox, a
        # filter given the wrong value) is reported at its file and line;
        # an error from no template line is re-raised as the bug it is.
        raise _template_error(exc, name, language) from None
    finally:
        _LOCALE.reset(token)
    body = _tidy(body)
    # An empty message stays empty, so that `cobra send` fails it naming the
    # template, instead of sending the opt-out line on its own.
    if (
        body
        and context.opt_out
        and to_customer
        and context.channel not in SPOKEN_CHANNELS
    ):
        # One line stays one line (an SMS); a letter gets a paragraph of its own.
        body += (" " if "\n" not in body else "\n\n") + context.opt_out.strip()
    if subject is not None:
        subject = " ".join(subject.split()) or None  # a subject is one line
    return Rendered(
        subject=subject,
        body=body,
        template_path=path,
        name=name,
        language=language,
        meta=dict(parsed.meta),
    )


# -- Checking ------------------------------------------------------------------


# Words for the sample contacts, so a template is tried with text in its own
# language (other languages borrow the English ones).
_SAMPLE_TEXT = {
    "en": {
        "customer": "Acme Supplies Inc.",
        "contact": "Jordan Lee",
        "salesperson": "Sam Carter",
        "collector": "Chris Park",
        "objective": "Get a payment date",
        "evidence": [
            "paid 11 of 12 invoices on time",
            "one invoice 33 days overdue",
            "last contact 20 days ago",
        ],
        "instructions": "Bank transfer to First Example Bank, account 123-456-789.",
        "escalation": "refer the debt to an external collection agency",
        "terms": "the service agreement of March 1, 2024",
        "billing": ["Business plan, 120 users, January 2025"],
    },
    "es": {
        "customer": "Comercial Andes Ltda.",
        "contact": "Ana Rojas",
        "salesperson": "Pedro Soto",
        "collector": "Marta Díaz",
        "objective": "Obtener una fecha de pago",
        "evidence": [
            "pagó 11 de 12 facturas a tiempo",
            "una factura con 33 días de atraso",
            "último contacto hace 20 días",
        ],
        "instructions": "Transferencia a Banco Ejemplo, cuenta corriente 123-456-789.",
        "escalation": "remitir la deuda a una empresa de cobranza externa",
        "terms": "el contrato de servicios del 1 de marzo de 2024",
        "billing": ["Plan Empresa, 120 usuarios, enero de 2025"],
    },
}


def sample_context(
    language: str = "en", *, full: bool = True, channel: str = "email"
) -> MessageContext:
    """A realistic contact for trying templates out.

    ``full`` sets every optional field and several invoices in two
    currencies; otherwise the optional fields are empty and there is one
    invoice, which catches templates that print a value without guarding it.
    """
    base = (_split_language(language) or (FALLBACK_LANGUAGE, ""))[0]
    text = _SAMPLE_TEXT.get(base, _SAMPLE_TEXT[FALLBACK_LANGUAGE])
    country, home = ("CL", "CLP") if base == "es" else ("US", "USD")
    clp = home == "CLP"
    invoices = [
        {
            "number": "F-10231",
            "issue_date": date(2025, 1, 10),
            "due_date": date(2025, 2, 9),
            "currency": home,
            "amount": 1_234_567 if clp else 123_456,
            "balance": 1_234_567 if clp else 123_456,
            "days_overdue": 33,
        }
    ]
    if full:
        invoices += [
            {
                "number": "F-10302",
                "issue_date": date(2025, 2, 10),
                "due_date": date(2025, 3, 12),
                "currency": home,
                "amount": 850_000 if clp else 98_000,
                "balance": 425_000 if clp else 49_000,
                "days_overdue": 2,
            },
            {
                "number": "EX-0042",
                "issue_date": date(2025, 2, 1),
                "due_date": date(2025, 3, 3),
                "currency": "EUR",
                "amount": 250_000,
                "balance": 250_000,
                "days_overdue": 11,
                "disputed": True,
            },
        ]
    context = MessageContext(
        company="Example Company",
        customer_name=text["customer"],
        account="C-0042",
        language=language,
        country=country,
        invoices=invoices,
        objective=text["objective"],
        reason="forgot",
        method="suggestion",
        tactic="rational_persuasion",
        channel=channel,
        evidence=list(text["evidence"]),
    )
    if full:
        context.contact_name = text["contact"]
        context.salesperson = text["salesperson"]
        context.collector = text["collector"]
        context.reply_to = "cobranza@example.com" if clp else "billing@example.com"
        context.pay_url = "https://pay.example.com/C-0042"
        context.payment_instructions = text["instructions"]
        context.pay_by = date(2025, 3, 21)
        context.escalation = text["escalation"]
        context.terms = text["terms"]
        context.opt_out = default_opt_out(language, channel)
        context.plan_options = [
            {
                "installments": count,
                "installment": (1_659_567 if clp else 172_456) // count + 1,
                "currency": home,
                "first_due": date(2025, 3, 31),
                "every": "month",
            }
            for count in (3, 6)
        ]
        context.billing_details = list(text["billing"])
        context.instalment = {
            "number": 2,
            "count": 3,
            "due": date(2025, 4, 30),
            "currency": home,
            "amount": (1_659_567 if clp else 172_456) // 3 + 1,
            "overdue": False,
        }
    return context


def _static_problems(env, source: str, filename: str, template_name: str):
    """Syntax errors, and variables no context provides, with their lines."""
    from jinja2 import meta, nodes
    from jinja2.exceptions import TemplateSyntaxError

    try:
        tree = env.parse(source, template_name, filename)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(filename, exc.lineno, exc.message or str(exc))]
    if template_name.rsplit("/", 1)[-1].startswith("_"):
        return []  # a partial's macros get their values as arguments
    known = known_variables() | set(env.globals)
    # Jinja counts a name set in only one branch of an {% if %} as undeclared;
    # a name the template assigns anywhere is left to the sample renders.
    assigned = {
        node.name
        for node in tree.find_all(nodes.Name)
        if node.ctx in ("store", "param")
    }
    problems = []
    for name in sorted(meta.find_undeclared_variables(tree) - known - assigned):
        lines = [
            node.lineno
            for node in tree.find_all(nodes.Name)
            if node.name == name and node.ctx == "load"
        ]
        hint = difflib.get_close_matches(name, sorted(known_variables()), n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        problems.append(
            TemplateProblem(
                filename, min(lines, default=None), f"'{name}' is undefined{extra}"
            )
        )
    return problems


def check_templates(config=None) -> list[TemplateProblem]:
    """Every problem in the templates in use, with its file and line.

    Each template is parsed, its variables are checked against the ones a
    context provides, and it is rendered with two sample contacts (one with
    every optional value, one with none), so a typo or an unguarded optional
    value is found here rather than when a message is due.
    """
    problems: list[TemplateProblem] = []
    user, source = _user_dir(config)
    if user is not None and not user.is_dir():
        problems.append(
            TemplateProblem(
                source or "config",
                None,
                f"messages.templates_dir: folder {user} does not exist",
            )
        )
    folders = _folders(config, strict=False)
    env = _environment(folders)
    seen: set[str] = set()
    for folder in folders:
        for path in sorted(folder.glob(f"*/*{SUFFIX}")):
            relative = f"{path.parent.name}/{path.name}"
            if relative in seen:
                continue  # hidden by the user's file of the same name
            seen.add(relative)
            problems += _check_file(env, folders, path, relative)
    return problems


def _check_file(env, folders, path: Path, relative: str) -> list[TemplateProblem]:
    filename = str(path)
    language = path.parent.name
    if not _split_language(language):
        return [
            TemplateProblem(
                str(path.parent), None, "not a language folder such as es or en-US"
            )
        ]
    try:
        parsed = _read(path)
    except UnicodeDecodeError:
        return [TemplateProblem(filename, None, "not UTF-8 text")]
    problems = [
        TemplateProblem(
            filename,
            parsed.meta_lines[key],
            f"unknown front matter key {key!r} (known: {', '.join(FRONT_MATTER)})",
        )
        for key in parsed.meta
        if key not in FRONT_MATTER
    ]
    problems += _static_problems(env, _body_source(parsed), filename, relative)
    if "subject" in parsed.meta:
        problems += _static_problems(
            env, _meta_source(parsed, "subject"), filename, relative + "#subject"
        )
    name = path.name[: -len(SUFFIX)]
    if problems or name.startswith("_"):
        return problems
    for full in (True, False):
        channel = parsed.meta.get("channel", "email")
        context = sample_context(language, full=full, channel=channel)
        try:
            _render_file(name, language, path, context, folders)
        except MessageTemplateError as exc:
            return [TemplateProblem(exc.path, exc.line, exc.detail)]
    return []
