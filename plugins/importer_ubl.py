"""The ``ubl`` importer: UBL 2.1 Invoice and CreditNote XML (Peppol BIS 3, EN 16931).

A source is one ``.xml`` file or a folder of them, read in name order, one
file in memory at a time. Names starting with a dot are skipped: they are
editor lock files and the ``._name.xml`` resource forks macOS leaves on
shared drives, never documents. Each file holds one document and gives a
:class:`Customer` for its buyer followed by an :class:`Invoice` or a
:class:`CreditNote`, or a single :class:`Rejected` that names the UBL element
at fault (``cbc:DueDate``). Prefixes below are the UBL ones: ``cbc`` for
CommonBasicComponents-2, ``cac`` for CommonAggregateComponents-2.

The buyer, ``cac:AccountingCustomerParty/cac:Party``:

- account: the first of ``cbc:EndpointID``, ``cac:PartyIdentification/cbc:ID``,
  ``cac:PartyLegalEntity/cbc:CompanyID``, ``cac:PartyTaxScheme/cbc:CompanyID``,
  ``cac:PartyLegalEntity/cbc:RegistrationName``, ``cac:PartyName/cbc:Name``
  that is present, as written (the ``schemeID`` attribute is not part of it);
- name: ``cac:PartyName/cbc:Name``, else ``cac:PartyLegalEntity/cbc:RegistrationName``;
- tax_id: ``cac:PartyTaxScheme/cbc:CompanyID``;
- country: ``cac:PostalAddress/cac:Country/cbc:IdentificationCode``;
- email and phone: ``cac:Contact/cbc:ElectronicMail`` and
  ``cac:Contact/cbc:Telephone``, the phone read in the buyer's country and
  stored in E.164 form. A country, e-mail or phone that does not check out is
  dropped with a warning instead of rejecting the document: the invoice
  matters more than a way to reach the buyer.

An Invoice:

- number ``cbc:ID``, issue date ``cbc:IssueDate``, currency
  ``cbc:DocumentCurrencyCode``;
- due date ``cbc:DueDate``, else the first ``cac:PaymentMeans/cbc:PaymentDueDate``,
  else a term in English read from ``cac:PaymentTerms/cbc:Note`` ("Net 30",
  "Payment within 30 days", "30 days net"), else the issue date: an invoice
  that states no due date is due on issue;
- amount ``cac:LegalMonetaryTotal/cbc:PayableAmount``, what the buyer still
  has to pay. It is already net of ``cbc:PrepaidAmount``, so a prepayment is
  never counted twice; the invoice's full value (``cbc:TaxInclusiveAmount``)
  is not what collection is about.
- no balance: an e-invoice is a document, not a ledger, so the ledger
  works the open balance out from the payments and credit notes it knows.

A CreditNote: number ``cbc:ID``, issue date ``cbc:IssueDate``, currency
``cbc:DocumentCurrencyCode``, amount ``cac:LegalMonetaryTotal/cbc:PayableAmount``
and the invoice it corrects from the first
``cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID``. Credit notes of
a source are handed over after its invoices, so a credit note whose file
sorts before its invoice's still finds it. One whose payable amount is zero
credits nothing, so only its buyer is read (with a warning).

Files are parsed with defusedxml: a document that declares entities is
refused whole, so no external resource is ever fetched and no entity
expanded (a bare ``<!DOCTYPE>`` without declarations is harmless and read).
A file that is not well-formed XML, or whose root is neither a UBL Invoice
nor a CreditNote, is rejected with the reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import cobra
from cobra import fields
from cobra.errors import CobraInputError
from cobra.fields import FieldError
from cobra.importers import ImportContext, Importer
from cobra.records import CreditNote, Customer, Invoice, Record, Rejected, Where

log = logging.getLogger(__name__)

_UBL = "urn:oasis:names:specification:ubl:schema:xsd:"
NAMESPACES = {
    "cac": _UBL + "CommonAggregateComponents-2",
    "cbc": _UBL + "CommonBasicComponents-2",
}
INVOICE_ROOT = f"{{{_UBL}Invoice-2}}Invoice"
CREDIT_NOTE_ROOT = f"{{{_UBL}CreditNote-2}}CreditNote"

BUYER = "cac:AccountingCustomerParty/cac:Party"
PAYABLE = "cac:LegalMonetaryTotal/cbc:PayableAmount"
# Where the buyer's account comes from, most specific first.
ACCOUNT_ELEMENTS = (
    "cbc:EndpointID",
    "cac:PartyIdentification/cbc:ID",
    "cac:PartyLegalEntity/cbc:CompanyID",
    "cac:PartyTaxScheme/cbc:CompanyID",
    "cac:PartyLegalEntity/cbc:RegistrationName",
    "cac:PartyName/cbc:Name",
)
NAME_ELEMENTS = ("cac:PartyName/cbc:Name", "cac:PartyLegalEntity/cbc:RegistrationName")

# xsd:date may carry a time zone ("2013-04-10Z", "2013-04-10+02:00"); the
# day is what counts for a due date.
_XSD_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?")

# Payment terms are free text. Only wordings that clearly state the days to
# pay are read: "2 % discount if paid within 2 days" must not make an
# invoice due in two days, hence a keyword before the figure.
_TERMS = (
    re.compile(r"\bnet\s*(\d{1,3})\b", re.IGNORECASE),
    re.compile(
        r"\b(?:payment|pay|payable|due|terms)\b[^.;\n\d]*?(\d{1,3})\s*days?\b",
        re.IGNORECASE,
    ),
    re.compile(r"^\s*(\d{1,3})\s*days?\b", re.IGNORECASE),
)


class _Invalid(Exception):
    """A document's element is missing or wrong; becomes one Rejected."""

    def __init__(self, element: str, problem: str):
        super().__init__(problem)
        self.element = element
        self.problem = problem


class UblImporter(Importer):
    name = "ubl"
    description = (
        "UBL 2.1 invoices and credit notes (Peppol BIS 3), a file or a folder."
    )
    extensions = (".xml",)
    reads_folders = True

    def read(
        self, source: str, options: Mapping[str, object], context: ImportContext
    ) -> Iterator[Record]:
        path = Path(source)
        if path.is_dir():
            files = sorted(
                p
                for p in path.iterdir()
                if p.suffix.lower() in self.extensions
                and not p.name.startswith(".")
                and p.is_file()
            )
            if not files:
                log.warning("%s: no .xml files in this folder", source)
        elif path.exists():
            files = [path]
        else:
            raise CobraInputError(f"{source}: no such file or folder")

        # A credit note settles an invoice that must already be loaded; the
        # notes are small records, so holding them back costs little.
        credit_notes: list[CreditNote] = []
        for file in files:
            for record in read_document(file):
                if isinstance(record, CreditNote):
                    credit_notes.append(record)
                else:
                    yield record
        yield from credit_notes


def read_document(path: Path) -> Iterator[Record]:
    """The records of one UBL file: its buyer and its document, or a Rejected."""
    where = Where(str(path))
    root = _parse(path, where)
    if isinstance(root, Rejected):
        yield root
        return
    if root.tag not in (INVOICE_ROOT, CREDIT_NOTE_ROOT):
        yield Rejected(
            where,
            "",
            f"not a UBL Invoice or CreditNote (the root element is {root.tag})",
        )
        return
    try:
        customer = _customer(root, where)
        if root.tag == INVOICE_ROOT:
            document = _invoice(root, customer.account, where)
        else:
            document = _credit_note(root, customer.account, where)
    except _Invalid as bad:
        yield Rejected(where, bad.element, bad.problem)
        return
    yield customer
    if document is not None:
        yield document


def _parse(path: Path, where: Where) -> Element | Rejected:
    from defusedxml import DefusedXmlException, EntitiesForbidden
    from defusedxml.ElementTree import parse

    try:
        tree = parse(path, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except EntitiesForbidden:
        return Rejected(
            where,
            "",
            "refused: the XML declares entities (DTD), which cobra never expands",
        )
    except DefusedXmlException as exc:
        # Entity declarations are refused first, so this is the rare external
        # reference that comes another way; it is refused just the same.
        target = getattr(exc, "system_id", None) or "another file"
        return Rejected(
            where, "", f"refused: the XML points to {target}, which cobra never fetches"
        )
    except ParseError as exc:
        return Rejected(where, "", f"not well-formed XML: {exc}")
    except OSError as exc:
        return Rejected(where, "", f"cannot be read: {exc.strerror or exc}")
    return tree.getroot()


def _text(element: Element | None, path: str) -> str | None:
    """The element's text with runs of white space made one space, or None."""
    if element is None:
        return None
    found = element.find(path, NAMESPACES)
    if found is None or found.text is None:
        return None
    return " ".join(found.text.split()) or None


def _first(element: Element, paths: tuple[str, ...]) -> str | None:
    for path in paths:
        value = _text(element, path)
        if value:
            return value
    return None


def _customer(root: Element, where: Where) -> Customer:
    party = root.find(BUYER, NAMESPACES)
    if party is None:
        raise _Invalid(BUYER, "missing: the document names no buyer")
    account = _first(party, ACCOUNT_ELEMENTS)
    name = _first(party, NAME_ELEMENTS)
    if account is None or name is None:
        raise _Invalid(
            f"{BUYER}/cac:PartyLegalEntity/cbc:RegistrationName", "missing buyer name"
        )
    country = _optional(
        fields.country,
        _text(party, "cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
        "cac:PostalAddress/cac:Country/cbc:IdentificationCode",
        where,
    )
    return Customer(
        account=account,
        name=name,
        where=where,
        email=_optional(
            fields.email,
            _text(party, "cac:Contact/cbc:ElectronicMail"),
            "cac:Contact/cbc:ElectronicMail",
            where,
        ),
        phone=_optional(
            lambda value: fields.phone(value, country),
            _text(party, "cac:Contact/cbc:Telephone"),
            "cac:Contact/cbc:Telephone",
            where,
        ),
        tax_id=_text(party, "cac:PartyTaxScheme/cbc:CompanyID"),
        country=country,
    )


def _optional(check, value: str | None, element: str, where: Where) -> str | None:
    """*value* checked, or None with a warning: never a reason to reject."""
    try:
        return check(value)
    except FieldError as exc:
        log.warning("%s: buyer's %s dropped: %s", where, element, exc)
        return None


def _required(root: Element, path: str) -> str:
    value = _text(root, path)
    if value is None:
        raise _Invalid(path, "missing")
    return value


def _date(root: Element, path: str) -> date:
    return _parse_date(_required(root, path), path)


def _parse_date(text: str, path: str) -> date:
    match = _XSD_DATE.fullmatch(text)
    try:
        if match is None:
            raise FieldError(text)
        return fields.parse_date(match.group(1))
    except FieldError:
        # fields.parse_date would suggest --date-format, which UBL does not
        # need: the standard fixes the form.
        raise _Invalid(
            path, f"{text!r} is not a date in the YYYY-MM-DD form UBL uses"
        ) from None


def _currency(root: Element) -> str:
    path = "cbc:DocumentCurrencyCode"
    try:
        return fields.currency(_text(root, path))
    except FieldError as exc:
        raise _Invalid(path, str(exc)) from None


def _payable(root: Element, currency: str) -> int:
    found = root.find(PAYABLE, NAMESPACES)
    stated = (
        (found.get("currencyID") or "").strip().upper() if found is not None else ""
    )
    if stated and stated != currency:
        raise _Invalid(
            PAYABLE,
            f"the amount is in {stated} but the document's currency is {currency}",
        )
    try:
        amount = fields.parse_amount(_text(root, PAYABLE), currency)
    except FieldError as exc:
        raise _Invalid(PAYABLE, str(exc)) from None
    if amount < 0:
        raise _Invalid(PAYABLE, f"{_text(root, PAYABLE)!r} is negative")
    return amount


def _invoice(root: Element, account: str, where: Where) -> Invoice:
    number = _required(root, "cbc:ID")
    issued = _date(root, "cbc:IssueDate")
    currency = _currency(root)
    amount = _payable(root, currency)
    due, due_from = _due_date(root, issued)
    if due < issued:
        raise _Invalid(due_from, f"due date {due} is before the issue date {issued}")
    return Invoice(
        number=number,
        account=account,
        issue_date=issued,
        due_date=due,
        currency=currency,
        amount=amount,
        where=where,
        balance=None,
    )


def _due_date(root: Element, issued: date) -> tuple[date, str]:
    """The due date and the element it came from, for messages."""
    for path in ("cbc:DueDate", "cac:PaymentMeans/cbc:PaymentDueDate"):
        text = _text(root, path)
        if text is not None:
            return _parse_date(text, path), path
    for note in root.iterfind("cac:PaymentTerms/cbc:Note", NAMESPACES):
        days = _days_to_pay(note.text or "")
        if days is not None:
            return issued + timedelta(days=days), "cac:PaymentTerms/cbc:Note"
    return issued, "cbc:IssueDate"


def _days_to_pay(note: str) -> int | None:
    for pattern in _TERMS:
        match = pattern.search(note)
        if match:
            return int(match.group(1))
    return None


def _credit_note(root: Element, account: str, where: Where) -> CreditNote | None:
    number = _required(root, "cbc:ID")
    issued = _date(root, "cbc:IssueDate")
    currency = _currency(root)
    amount = _payable(root, currency)
    if amount == 0:
        log.warning(
            "%s: credit note %s has nothing payable; only its buyer is read",
            where,
            number,
        )
        return None
    return CreditNote(
        number=number,
        account=account,
        issue_date=issued,
        currency=currency,
        amount=amount,
        where=where,
        invoice_number=_text(
            root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"
        ),
    )


@cobra.hookimpl
def register_importers(register):
    register(UblImporter())
