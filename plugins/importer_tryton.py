"""Customer invoices, their parties and open balances from a Tryton ERP server.

``cobra import tryton://HOST:PORT/DATABASE`` reads over HTTP, and
``trytons://HOST[:PORT]/DATABASE`` over HTTPS (a private certificate
authority goes in ``REQUESTS_CA_BUNDLE``). The port defaults to 8000, Tryton's
own, for ``tryton://``, and to 443 for ``trytons://``.

Credentials come from the environment only, never from the command line,
where the process list and the shell history would show them:

- JSON-RPC, the default: the login is ``--tryton-user`` or ``TRYTON_USER``,
  the password ``TRYTON_PASSWORD``.
- REST: with ``TRYTON_API_KEY`` set to the key of a user application
  (``res.user.application``, application "REST API"), the REST interface is
  used instead and needs no login or password.

What is read
------------
- Customer invoices (``account.invoice`` of type "out") that are posted or
  paid: number, invoice date, currency, total, and ``amount_to_pay``, Tryton's
  open balance, which cobra takes as the invoice's balance. The due date is
  the earliest maturity date of the invoice's lines to pay (the invoice date
  when none has one).
- Tryton's credit notes, which are customer invoices with a negative total,
  as credit notes for their amount.
- The parties of those invoices, as customers: the party code is cobra's
  account (``tryton-party-ID`` when a party has no code), the name, tax
  identifier, language, the country of the first address that has one, the
  first usable e-mail address and the first usable mobile (else phone)
  number, read in that country. A contact cobra cannot use (a malformed
  address, an invalid number) is left out with a warning rather than
  rejecting the customer and all of its invoices. When the user may not
  read contacts or addresses, customers are imported with their code and
  name only.

What is not read
----------------
- Payments, as payment records. ``amount_to_pay`` already accounts for every
  payment, reconciled credit note and write-off; handing cobra the payments
  too would make its ledger settle the same invoices a second time.
- Which invoice a credit note corrects, and how it was reconciled. For the
  same reason, credit notes come before any invoice in the record stream:
  cobra keeps them as the customer's credit notes without settling invoices
  with them, and every invoice then gets Tryton's balance, so the balances in
  cobra are Tryton's whatever the credit notes.
- Draft, validated and cancelled invoices, and supplier invoices.
- With a REST key, the language of parties in a database with several
  companies (Tryton keeps it per company, and REST has no user preferences to
  say which company).

Every request has a timeout (``--tryton-timeout``); connection failures,
timeouts, HTTP 429 and 5xx answers are retried a few times with exponential
backoff, honouring ``Retry-After``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, urlsplit

import cobra
from cobra import fields
from cobra.errors import CobraInputError, CobraWorkError
from cobra.httputil import retry_after
from cobra.importers import ImportContext, Importer, ImportOption
from cobra.logs import register_secret
from cobra.records import CreditNote, Customer, Invoice, Record, Rejected, Where

log = logging.getLogger(__name__)

USER_ENV = "TRYTON_USER"
PASSWORD_ENV = "TRYTON_PASSWORD"
API_KEY_ENV = "TRYTON_API_KEY"

DEFAULT_TIMEOUT = 30.0
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 10_000
TRIES = 4  # one request and three retries
BACKOFF_SECONDS = 0.5  # the first wait; each further wait doubles it
MAX_WAIT_SECONDS = 60.0  # no single wait is longer, whatever Retry-After says

INVOICE = "account.invoice"
PARTY = "party.party"
INVOICE_FIELDS = [
    "number",
    "party",
    "party.code",
    "party.name",
    "invoice_date",
    "currency.code",
    "total_amount",
    "amount_to_pay",
    "lines_to_pay.maturity_date",
    "state",
]
PARTY_FIELDS = [
    "code",
    "name",
    "lang.code",
    "tax_identifier.code",
    "contact_mechanisms.type",
    "contact_mechanisms.value",
    "addresses.country.code",
]
# What any user who may read invoices may read of their parties.
PARTY_FIELDS_BASIC = ["code", "name"]


class TrytonImporter(Importer):
    name = "tryton"
    description = "Customer invoices, parties and balances from a Tryton ERP server."
    schemes = ("tryton", "trytons")
    # No defaults here: cobra refuses an option an importer does not take,
    # so a default value would break every other importer's imports.
    options = (
        ImportOption(
            "tryton-user",
            f"Tryton login (default: ${USER_ENV}); the password is read from "
            f"${PASSWORD_ENV}, or a REST key from ${API_KEY_ENV}.",
            metavar="LOGIN",
        ),
        ImportOption(
            "tryton-timeout",
            f"Seconds to wait for each Tryton answer (default {DEFAULT_TIMEOUT:g}).",
            metavar="SECONDS",
        ),
        ImportOption(
            "tryton-page-size",
            f"Invoices per Tryton request (default {DEFAULT_PAGE_SIZE}).",
            metavar="N",
        ),
    )

    def read(
        self, source: str, options: Mapping[str, object], context: ImportContext
    ) -> Iterator[Record]:
        target = _Target.parse(source)
        timeout = _number(
            options, "tryton_timeout", DEFAULT_TIMEOUT, float, 0.001, 3600
        )
        page_size = _number(
            options, "tryton_page_size", DEFAULT_PAGE_SIZE, int, 1, MAX_PAGE_SIZE
        )
        client = _client(target, options.get("tryton_user"), timeout)
        yield from _Reader(client, target, page_size).records()


@cobra.hookimpl
def register_importers(register):
    register(TrytonImporter())


# -- the source and the options --------------------------------------------------


class _Target:
    """Where the server is, parsed from ``tryton://HOST:PORT/DATABASE``."""

    def __init__(self, display: str, base: str, database: str):
        self.display = display  # for messages: never holds a secret
        self.base = base  # http(s)://host:port
        self.database = database

    @classmethod
    def parse(cls, source: str) -> _Target:
        parts = urlsplit(source)
        scheme = parts.scheme.lower()
        if scheme not in TrytonImporter.schemes:
            raise CobraInputError(f"{source}: not a tryton:// or trytons:// URL")
        if parts.password:
            register_secret(parts.password)
        host = parts.hostname
        try:
            port = parts.port
        except ValueError:
            raise CobraInputError(f"{source}: the port is not a number") from None
        if not host:
            raise CobraInputError(
                f"{source}: name the server, as in tryton://HOST:PORT/DATABASE"
            )
        netloc = f"[{host}]" if ":" in host else host
        if port is None and scheme == "tryton":
            port = 8000
        if port is not None:
            netloc = f"{netloc}:{port}"
        database = parts.path.strip("/")
        display = f"{scheme}://{netloc}/{database}"
        if parts.username or parts.password:
            raise CobraInputError(
                f"{display}: put no login or password in the URL; cobra reads them "
                f"from {USER_ENV} and {PASSWORD_ENV}"
            )
        if not database or "/" in database:
            raise CobraInputError(
                f"{source}: name one database, as in tryton://HOST:PORT/DATABASE"
            )
        if parts.query or parts.fragment:
            raise CobraInputError(f"{display}: a Tryton URL takes no ?query or #part")
        http = "https" if scheme == "trytons" else "http"
        return cls(display, f"{http}://{netloc}", quote(database, safe=""))


def _number(options: Mapping[str, object], key: str, default, kind, low, high):
    value = options.get(key)
    if value is None:
        return default
    try:
        number = kind(str(value))
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        option = "--" + key.replace("_", "-")
        raise CobraInputError(
            f"{option} {value!r}: give a number from {low:g} to {high:g}"
        )
    return number


def _client(target: _Target, user: object, timeout: float):
    """The JSON-RPC or REST client the environment's credentials call for."""
    transport = _Transport(target.display, timeout)
    api_key = os.environ.get(API_KEY_ENV)
    if api_key:
        register_secret(api_key)
        return _Rest(transport, target, api_key)
    user = str(user or os.environ.get(USER_ENV) or "")
    if not user:
        raise CobraInputError(
            f"{target.display}: no Tryton login; set {USER_ENV} or pass "
            f"--tryton-user (or set {API_KEY_ENV} to a REST key)"
        )
    password = os.environ.get(PASSWORD_ENV)
    if not password:
        raise CobraInputError(
            f"{target.display}: {PASSWORD_ENV} is not set; export the password of "
            f"Tryton user {user!r} in it (or set {API_KEY_ENV} to a REST key)"
        )
    register_secret(password)
    return _JsonRpc(transport, target, user, password)


# -- HTTP ---------------------------------------------------------------------------


class _NotTryton(CobraWorkError):
    """The server answered, but not as Tryton does."""

    def __init__(self, display: str, what: str):
        super().__init__(f"{display} did not answer like Tryton: {what}")


class _Refused(CobraWorkError):
    """Tryton answered a call with an error of its own."""


class _Transport:
    """HTTP requests with a timeout and bounded retries of transient failures."""

    def __init__(self, display: str, timeout: float):
        import requests  # here, so that listing importers never imports it

        self.requests = requests
        self.session = requests.Session()
        self.display = display
        self.timeout = timeout

    def send(self, method: str, url: str, tries: int = TRIES, **kwargs):
        errors = self.requests.exceptions
        wait = BACKOFF_SECONDS
        for attempt in range(1, tries + 1):
            hinted = None
            try:
                response = self.session.request(
                    method, url, timeout=self.timeout, **kwargs
                )
            except errors.SSLError as exc:
                # Not transient: the same certificate fails the same way.
                raise CobraWorkError(
                    f"{self.display}: TLS with the server failed ({_reason(exc)}); "
                    "a private certificate authority goes in REQUESTS_CA_BUNDLE"
                ) from None
            except (errors.Timeout, errors.ConnectionError) as exc:
                # A server that stalls after sending its headers shows up as
                # a ConnectionError wrapping urllib3's read timeout.
                if isinstance(exc, errors.Timeout) or "timed out" in str(exc):
                    failure = (
                        f"Tryton at {self.display} timed out: no answer within "
                        f"{self.timeout:g} s"
                    )
                    hint = "; a slow server needs a larger --tryton-timeout"
                else:
                    failure = f"cannot reach Tryton at {self.display}: {_reason(exc)}"
                    hint = ""
            except errors.RequestException as exc:
                raise CobraWorkError(
                    f"{self.display}: the request failed: {_reason(exc)}"
                ) from None
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    return response
                failure = f"Tryton at {self.display} answered HTTP {status}"
                hint = "; try again later"
                hinted = retry_after(response.headers.get("Retry-After"))
            if attempt == tries:
                break
            delay = min(MAX_WAIT_SECONDS, wait if hinted is None else hinted)
            log.warning(
                "%s; retrying in %.1f s (try %d of %d)",
                failure,
                delay,
                attempt + 1,
                tries,
            )
            time.sleep(delay)
            wait *= 2
        times = f"{tries} tries" if tries > 1 else "1 try"
        raise CobraWorkError(f"{failure} ({times}){hint}")

    def decode(self, response) -> object:
        """The JSON body, with every number exact (never a float)."""
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise _NotTryton(
                self.display,
                f"HTTP {response.status_code} with a body that is not JSON ({kind})",
            ) from None


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker, reason in (
        ("refused", "connection refused"),
        ("Name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("Temporary failure in name resolution", "unknown host"),
        ("reset by peer", "connection reset"),
        ("CERTIFICATE_VERIFY_FAILED", "certificate not trusted"),
        ("RemoteDisconnected", "the server closed the connection"),
    ):
        if marker in text:
            return reason
    return type(exc).__name__


# -- the two interfaces --------------------------------------------------------------


class _JsonRpc:
    """Tryton's JSON-RPC: a session from ``common.db.login``, then model calls."""

    interface = "JSON-RPC"

    def __init__(
        self, transport: _Transport, target: _Target, user: str, password: str
    ):
        self.transport = transport
        self.display = target.display
        self.url = f"{target.base}/{target.database}/rpc/"
        self.user = user
        self.password = password
        self.headers: dict[str, str] = {}
        self.context: dict = {}
        self.calls = 0

    def login(self) -> None:
        answer = self.call(
            "common.db.login", [self.user, {"password": self.password}, "en"]
        )
        if not answer:
            # Old servers answer a refused login with false instead of 401.
            raise self._refused(None)
        if (
            not isinstance(answer, list)
            or len(answer) < 2
            or not _is_int(answer[0])
            or not isinstance(answer[1], str)
        ):
            raise _NotTryton(self.display, "common.db.login did not return a session")
        user_id, token = answer[0], answer[1]
        register_secret(token)
        credentials = base64.b64encode(
            f"{self.user}:{user_id}:{token}".encode()
        ).decode()
        register_secret(credentials)
        self.headers["Authorization"] = f"Session {credentials}"
        # The user's preferences are the context Tryton's own client sends:
        # the company, which decides what is visible and company-dependent
        # values such as a party's language.
        context = self.call("model.res.user.get_preferences", [True, {}])
        if not isinstance(context, dict):
            raise _NotTryton(
                self.display, "res.user.get_preferences did not return a dict"
            )
        self.context = context

    def logout(self) -> None:
        try:
            self.call("common.db.logout", [], tries=1)
        except CobraWorkError as exc:  # the session expires on its own anyway
            log.debug("Tryton logout failed: %s", exc)

    def search_read(
        self,
        model: str,
        domain: list,
        offset: int,
        limit: int,
        order: list,
        names: list[str],
    ) -> object:
        return self.call(
            f"model.{model}.search_read",
            [domain, offset, limit, order, names, self.context],
        )

    def read(self, model: str, ids: list[int], names: list[str]) -> object:
        return self.call(f"model.{model}.read", [ids, names, self.context])

    def call(self, method: str, params: list, tries: int = TRIES) -> object:
        self.calls += 1
        response = self.transport.send(
            "POST",
            self.url,
            tries=tries,
            headers=self.headers,
            json={"id": self.calls, "method": method, "params": params},
        )
        status = response.status_code
        if status in (401, 403):
            raise self._refused(status)
        if status == 404:
            raise CobraInputError(
                f"{self.display}: the server has no such database (HTTP 404); "
                "check the database name in the URL"
            )
        if status != 200:
            raise _NotTryton(self.display, f"HTTP {status} to {method}")
        body = self.transport.decode(response)
        if not isinstance(body, dict) or body.get("id") != self.calls:
            raise _NotTryton(self.display, f"no JSON-RPC answer to {method}")
        if body.get("error"):
            raise _Refused(
                f"Tryton at {self.display} refused {method}: "
                f"{_error_text(body['error'])}"
            )
        if "result" not in body:
            raise _NotTryton(self.display, f"no result for {method}")
        return body["result"]

    def _refused(self, status: int | None) -> CobraInputError:
        how = f" (HTTP {status})" if status else ""
        return CobraInputError(
            f"Tryton at {self.display} refused the login of {self.user!r}{how}: "
            f"check {USER_ENV}/{PASSWORD_ENV}"
        )


class _Rest:
    """Tryton's REST interface, authenticated by a user application key."""

    interface = "REST"

    def __init__(self, transport: _Transport, target: _Target, key: str):
        self.transport = transport
        self.display = target.display
        self.root = f"{target.base}/{target.database}/rest/model/"
        self.headers = {"Authorization": f"Bearer {key}"}

    def login(self) -> None:
        # REST has no session; this first request proves the key. With a
        # single company, naming it in the context makes company-dependent
        # values (a party's language) readable, as JSON-RPC preferences do.
        try:
            companies = self.search_read(
                "company.company", [], 0, 2, [["id", "ASC"]], ["id"]
            )
        except _Refused:
            return
        if (
            isinstance(companies, list)
            and len(companies) == 1
            and isinstance(companies[0], dict)
        ):
            company = _ref_id(companies[0], "id")
            if company is not None:
                self.headers["X-Tryton-Context"] = _b64({"company": company})

    def logout(self) -> None:
        pass

    def search_read(
        self,
        model: str,
        domain: list,
        offset: int,
        limit: int,
        order: list | None,
        names: list[str],
    ) -> object:
        params: list[tuple[str, object]] = [
            ("d", _b64(domain)),
            ("p", offset),
            ("s", limit),
        ]
        if order:
            params.append(("o", _b64(order)))
        params.extend(("f", name) for name in names)
        response = self.transport.send(
            "GET", self.root + model, params=params, headers=self.headers
        )
        status = response.status_code
        if status in (401, 403):
            raise CobraInputError(
                f"Tryton at {self.display} refused the REST key (HTTP {status}): "
                f"check {API_KEY_ENV}"
            )
        if status == 404:
            raise CobraInputError(
                f"{self.display}: the server has no such database or no REST "
                "interface (HTTP 404); check the database name in the URL"
            )
        if status == 400:
            body = self.transport.decode(response)
            message = body.get("message") if isinstance(body, dict) else None
            raise _Refused(
                f"Tryton at {self.display} refused to read {model}: "
                f"{_error_text([message or 'bad request'])}"
            )
        if status != 200:
            raise _NotTryton(self.display, f"HTTP {status} reading {model}")
        return self.transport.decode(response)

    def read(self, model: str, ids: list[int], names: list[str]) -> object:
        return self.search_read(model, [["id", "in", ids]], 0, len(ids), None, names)


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _error_text(error: object) -> str:
    # Tryton sends [message, description] for its own errors and
    # [text, traceback] for unexpected ones: the first part says enough.
    first = error[0] if isinstance(error, list) and error else error
    text = " ".join(str(first).split())
    return text[:200] + ("..." if len(text) > 200 else "")


# -- reading ---------------------------------------------------------------------


class _Reader:
    """Turns pages of Tryton invoices into cobra records, customers first."""

    def __init__(self, client, target: _Target, page_size: int):
        self.client = client
        self.display = target.display
        self.page_size = page_size
        self.accounts: dict[int, str] = {}  # party id -> account, once yielded
        self.seen: set[int] = set()  # parties yielded or rejected
        self.party_fields = PARTY_FIELDS

    def records(self) -> Iterator[Record]:
        log.info("reading %s over %s", self.display, self.client.interface)
        self.client.login()
        base = [["type", "=", "out"], ["state", "in", ["posted", "paid"]]]
        # Credit notes first: see the module's documentation.
        for sign in ("<", ">="):
            domain = [*base, ["total_amount", sign, 0]]
            offset = 0
            while True:
                rows = self.client.search_read(
                    INVOICE,
                    domain,
                    offset,
                    self.page_size,
                    [["id", "ASC"]],
                    INVOICE_FIELDS,
                )
                _check_records(rows, INVOICE, self.display)
                yield from self._customers(rows)
                for row in rows:
                    yield self._invoice(row)
                if len(rows) < self.page_size:
                    break
                offset += len(rows)
        self.client.logout()

    # -- customers --

    def _customers(self, rows: list[dict]) -> Iterator[Record]:
        wanted: dict[int, dict] = {}
        for row in rows:
            party = _ref_id(row, "party")
            if party is None:
                raise _NotTryton(self.display, f"invoice {row.get('id')} has no party")
            if party not in self.seen:
                wanted.setdefault(party, row)
        if not wanted:
            return
        found = {}
        for party in self._read_parties(sorted(wanted)):
            party_id = _ref_id(party, "id")
            if party_id in wanted:
                found[party_id] = party
        self.seen.update(wanted)
        for party_id, row in wanted.items():
            # A party the read did not return still has what the invoice
            # row carries: its code and name.
            party = found.get(party_id) or _one(row, "party")
            yield self._customer(party_id, party)

    def _read_parties(self, ids: list[int]) -> list:
        try:
            parties = self.client.read(PARTY, ids, self.party_fields)
        except _Refused as exc:
            if self.party_fields is PARTY_FIELDS_BASIC:
                raise
            log.warning("%s; importing customers with their code and name only", exc)
            self.party_fields = PARTY_FIELDS_BASIC
            parties = self.client.read(PARTY, ids, self.party_fields)
        _check_records(parties, PARTY, self.display)
        return parties

    def _customer(self, party_id: int, party: dict) -> Record:
        where = Where(f"{self.display}/{PARTY}", party_id)
        account = _text(party.get("code")) or f"tryton-party-{party_id}"
        try:
            name = fields.required(_text(party.get("name")), "party name")
        except fields.FieldError as exc:
            return Rejected(where, "name", str(exc))
        self.accounts[party_id] = account
        country = self._usable(where, "country", fields.country, _country(party))
        mechanisms = _many(party, "contact_mechanisms")
        email = self._contact(where, mechanisms, "email", fields.email)
        # A mobile first: it can take text messages as well as calls.
        phone = self._contact(
            where, mechanisms, "mobile", fields.phone, country
        ) or self._contact(where, mechanisms, "phone", fields.phone, country)
        lang = _one(party, "lang")
        tax = _one(party, "tax_identifier")
        return Customer(
            account=account,
            name=name,
            where=where,
            email=email,
            phone=phone,
            tax_id=_text(tax.get("code")),
            country=country,
            language=self._usable(
                where, "language", fields.language, _text(lang.get("code"))
            ),
        )

    def _contact(self, where: Where, mechanisms: list[dict], kind: str, check, *args):
        """The first contact mechanism of *kind* that cobra can use."""
        for mechanism in mechanisms:
            value = _text(mechanism.get("value"))
            if value and mechanism.get("type") == kind:
                usable = self._usable(where, kind, check, value, *args)
                if usable:
                    return usable
        return None

    def _usable(self, where: Where, what: str, check, *args):
        try:
            return check(*args)
        except fields.FieldError as exc:
            log.warning("%s: %s left out: %s", where, what, exc)
            return None

    # -- invoices and credit notes --

    def _invoice(self, row: dict) -> Record:
        invoice_id = _ref_id(row, "id")
        if invoice_id is None:
            raise _NotTryton(self.display, f"an {INVOICE} row has no id")
        where = Where(f"{self.display}/{INVOICE}", invoice_id)
        account = self.accounts.get(_ref_id(row, "party"))
        if account is None:
            return Rejected(where, "customer_id", "its party could not be imported")
        field = "number"
        try:
            number = fields.required(_text(row.get("number")), "invoice number")
            field = "currency"
            currency = fields.currency(_text(_one(row, "currency").get("code")))
            field = "invoice_date"
            issued = self._date(row, "invoice_date", where)
            if issued is None:
                raise fields.FieldError("missing invoice date")
            field = "total_amount"
            total = self._amount(row, "total_amount", currency, where)
            if total < 0:
                return CreditNote(
                    number=number,
                    account=account,
                    issue_date=issued,
                    currency=currency,
                    amount=-total,
                    where=where,
                )
            field = "amount_to_pay"
            balance = self._amount(row, "amount_to_pay", currency, where)
        except fields.FieldError as exc:
            return Rejected(where, field, str(exc))
        maturities = [
            self._date(line, "maturity_date", where)
            for line in _many(row, "lines_to_pay")
        ]
        due = min((d for d in maturities if d is not None), default=issued)
        return Invoice(
            number=number,
            account=account,
            issue_date=issued,
            # cobra needs a due date on or after the issue date; a maturity
            # before the invoice date means it was due when issued.
            due_date=max(due, issued),
            currency=currency,
            amount=total,
            # Never below zero: an overpaid invoice owes nothing, and what
            # was paid too much is Tryton's to handle.
            balance=max(balance, 0),
            where=where,
        )

    def _amount(self, row: dict, name: str, currency: str, where: Where) -> int:
        value = row.get(name)
        if isinstance(value, dict) and value.get("__class__") == "Decimal":
            value = value.get("decimal")
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise _NotTryton(self.display, f"{where}: {name} is not a decimal")
        try:
            # Through Decimal, to turn exponent forms ("1E+2") into plain
            # digits exactly before cobra's own parser sees them.
            text = format(Decimal(value), "f")
        except InvalidOperation:
            raise _NotTryton(
                self.display, f"{where}: {name} is not a decimal"
            ) from None
        return fields.parse_amount(text, currency)

    def _date(self, row: dict, name: str, where: Where) -> date | None:
        value = row.get(name)
        if value is None:
            return None
        if isinstance(value, dict) and value.get("__class__") == "date":
            try:
                return date(value["year"], value["month"], value["day"])
            except (KeyError, TypeError, ValueError):
                pass
        raise _NotTryton(self.display, f"{where}: {name} is not a date")


def _check_records(rows: object, model: str, display: str) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise _NotTryton(display, f"the {model} rows are not a list of records")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ref_id(row: dict, name: str) -> int | None:
    """The id a many-to-one field holds: an int (JSON-RPC) or a record (REST)."""
    value = row.get(name)
    if isinstance(value, dict):
        value = value.get("id")
    return value if _is_int(value) else None


# What dotted field names read through a relation: JSON-RPC returns it under
# "name." next to the plain id, REST under "name" itself.


def _one(row: dict, name: str) -> dict:
    value = row.get(f"{name}.", row.get(name))
    return value if isinstance(value, dict) else {}


def _many(row: dict, name: str) -> list[dict]:
    value = row.get(f"{name}.", row.get(name))
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _country(party: dict) -> str | None:
    for address in _many(party, "addresses"):
        code = _text(_one(address, "country").get("code"))
        if code:
            return code
    return None
