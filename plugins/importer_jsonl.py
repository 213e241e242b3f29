"""The ``jsonl`` importer: one JSON object a line, each with a ``type``.

Types and their fields (amounts are decimal strings in major units, or JSON
numbers; dates are ``YYYY-MM-DD``)::

    {"type": "customer", "customer_id": "C1", "name": "Harbor Supply Co.",
     "email": "...", "phone": "...", "tax_id": "...", "language": "en",
     "country": "US", "timezone": "America/New_York",
     "salesperson_email": "...", "segment": "smb"}
    {"type": "invoice", "invoice_id": "F-1", "customer_id": "C1",
     "issue_date": "2026-11-01", "due_date": "2026-12-01", "currency": "USD",
     "amount": "1250.00", "balance": "1250.00"}
    {"type": "payment", "payment_id": "P-1", "customer_id": "C1",
     "date": "2026-11-20", "currency": "USD", "amount": "500.00",
     "invoice_ids": ["F-1"]}
    {"type": "credit_note", "credit_note_id": "NC-1", "customer_id": "C1",
     "invoice_id": "F-1", "issue_date": "2026-11-05", "currency": "USD",
     "amount": "100.00"}

An invoice's ``balance`` is optional: without it, the balance is the amount
less the payments and credit notes imported for it. A payment without
``invoice_ids`` settles its customer's open invoices oldest first; what it
does not cover stays as customer credit. Records refer to customers and
invoices by their ids, so a customer comes before its invoices, and an
invoice before the payments naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping

import cobra
from cobra import fields
from cobra.errors import CobraInputError
from cobra.importers import ImportContext, Importer
from cobra.records import (
    CreditNote,
    Customer,
    Invoice,
    Payment,
    Record,
    Rejected,
    Where,
)


class JsonLinesImporter(Importer):
    name = "jsonl"
    description = (
        "JSON Lines: customers, invoices, credit notes and payments, one a line."
    )
    extensions = (".jsonl", ".ndjson")

    def read(
        self, source: str, options: Mapping[str, object], context: ImportContext
    ) -> Iterator[Record]:
        try:
            handle = open(source, "rb")
        except OSError as exc:
            raise CobraInputError(f"{source}: cannot read: {exc.strerror}") from None
        with handle:
            line = 0
            for line, raw in enumerate(handle, start=1):
                try:
                    # Each line on its own: a text file decodes a whole chunk
                    # at once, and would blame the chunk's first line.
                    text = raw.decode("utf-8-sig" if line == 1 else "utf-8")
                except UnicodeDecodeError:
                    raise CobraInputError(
                        f"{source}:{line}: not UTF-8 text; JSON Lines files are UTF-8"
                    ) from None
                if text.strip():
                    yield _record(text, Where(source, line), context)
            if line == 0:
                raise CobraInputError(f"{source}: the file is empty")


def _record(text: str, where: Where, context: ImportContext) -> Record:
    try:
        # Numbers stay text: amounts must never pass through a float.
        data = json.loads(text, parse_float=str, parse_int=str)
    except json.JSONDecodeError as exc:
        return Rejected(where, "", f"not valid JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(data, dict):
        return Rejected(where, "", "expected a JSON object")
    kind = data.get("type")
    reader = _READERS.get(kind)
    if reader is None:
        return Rejected(where, "type", f"{kind!r} is not one of {', '.join(_READERS)}")
    get = _Fields(data)
    try:
        return reader(get, where, context)
    except fields.FieldError as exc:
        return Rejected(where, get.last, str(exc))


class _Fields:
    """Reads a record's fields as text, remembering the last one asked for,
    so an error names the field it is about."""

    def __init__(self, data: dict):
        self.data = data
        self.last = ""

    def __call__(self, name: str) -> str | None:
        value = self.raw(name)
        return None if value is None else str(value)

    def raw(self, name: str):
        self.last = name
        return self.data.get(name)


def _customer(get: _Fields, where: Where, context: ImportContext) -> Customer:
    account = fields.required(get("customer_id"), "customer id")
    name = fields.required(get("name"), "name")
    country = fields.country(get("country"))
    return Customer(
        account=account,
        name=name,
        where=where,
        email=fields.email(get("email")),
        phone=fields.phone(get("phone"), country or context.default_country),
        tax_id=fields.optional(get("tax_id")),
        language=fields.language(get("language")),
        country=country,
        timezone=fields.timezone(get("timezone")),
        salesperson_email=fields.email(get("salesperson_email")),
        segment=fields.optional(get("segment")),
    )


def _money(get: _Fields, name: str, currency: str) -> int:
    amount = fields.parse_amount(get(name), currency)
    if amount < 0:
        raise fields.FieldError(f"{get(name)} is negative")
    return amount


def _invoice(get: _Fields, where: Where, context: ImportContext) -> Invoice:
    number = fields.required(get("invoice_id"), "invoice id")
    account = fields.required(get("customer_id"), "customer id")
    issued = fields.parse_date(get("issue_date"))
    due = fields.due_on_or_after(fields.parse_date(get("due_date")), issued)
    currency = fields.currency(get("currency") or context.default_currency)
    amount = _money(get, "amount", currency)
    balance = _money(get, "balance", currency) if get("balance") is not None else None
    return Invoice(
        number=number,
        account=account,
        issue_date=issued,
        due_date=due,
        currency=currency,
        amount=amount,
        where=where,
        balance=balance,
    )


def _payment(get: _Fields, where: Where, context: ImportContext) -> Payment:
    reference = fields.required(get("payment_id"), "payment id")
    account = fields.required(get("customer_id"), "customer id")
    paid_on = fields.parse_date(get("date"))
    currency = fields.currency(get("currency") or context.default_currency)
    amount = _money(get, "amount", currency)
    if amount == 0:
        raise fields.FieldError("a payment of zero")
    numbers = _invoice_ids(get.raw("invoice_ids"))
    return Payment(
        reference=reference,
        account=account,
        paid_on=paid_on,
        currency=currency,
        amount=amount,
        where=where,
        invoice_numbers=numbers,
    )


def _invoice_ids(value) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise fields.FieldError("expected a list of invoice ids")
    return tuple(value)


def _credit_note(get: _Fields, where: Where, context: ImportContext) -> CreditNote:
    number = fields.required(get("credit_note_id"), "credit note id")
    account = fields.required(get("customer_id"), "customer id")
    issued = fields.parse_date(get("issue_date"))
    currency = fields.currency(get("currency") or context.default_currency)
    amount = _money(get, "amount", currency)
    if amount == 0:
        raise fields.FieldError("a credit note of zero")
    return CreditNote(
        number=number,
        account=account,
        issue_date=issued,
        currency=currency,
        amount=amount,
        where=where,
        invoice_number=fields.optional(get("invoice_id")),
    )


_READERS = {
    "customer": _customer,
    "invoice": _invoice,
    "payment": _payment,
    "credit_note": _credit_note,
}


@cobra.hookimpl
def register_importers(register):
    register(JsonLinesImporter())
