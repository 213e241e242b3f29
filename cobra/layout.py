"""cobra's tabular layout: one row per invoice, with its customer's details.

This is the layout of cobra's own CSV files, and the shape any importer of
tabular data (a CSV export through a mapping, a spreadsheet) hands to the
ledger as :class:`cobra.records.LayoutRows`: text cells, not yet checked.
The ledger checks clean rows in bulk inside SQLite and sends only the others
through :func:`check_row`, which is also the one definition of what each
field must be and of the message when it is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from cobra import fields
from cobra.records import Customer, Invoice, Rejected, Where

REQUIRED = (
    "customer_id",
    "customer_name",
    "invoice_id",
    "issue_date",
    "due_date",
    "currency",
    "amount",
    "balance",
)
OPTIONAL = (
    "email",
    "phone",
    "tax_id",
    "language",
    "country",
    "timezone",
    "salesperson_email",
    "segment",
)
# The order of cells in a layout row, and of the columns of cobra's own CSV.
FIELDS = (
    "customer_id",
    "customer_name",
    "email",
    "phone",
    "invoice_id",
    "issue_date",
    "due_date",
    "currency",
    "amount",
    "balance",
    "tax_id",
    "language",
    "country",
    "timezone",
    "salesperson_email",
    "segment",
)


@dataclass(frozen=True)
class LayoutSettings:
    """How the text in the cells is written."""

    decimal: str = "."
    thousands: str | None = None
    date_format: str | None = None  # None: ISO 8601, YYYY-MM-DD
    default_country: str | None = None  # for phone numbers without a country

    @property
    def plain(self) -> bool:
        """True when cells use ISO dates and plain decimals, which SQLite can check."""
        return self.decimal == "." and not self.thousands and not self.date_format


def check_row(
    cells: tuple[str, ...], where: Where, settings: LayoutSettings
) -> tuple[Customer, Invoice] | Rejected:
    """Read one row's cells (in :data:`FIELDS` order) or say what is wrong."""
    get = dict(zip(FIELDS, cells, strict=True))
    field = "customer_id"
    try:
        account = fields.required(get["customer_id"], "customer id")
        field = "customer_name"
        name = fields.required(get["customer_name"], "customer name")
        field = "country"
        country = fields.country(get["country"])
        field = "email"
        email = fields.email(get["email"])
        field = "phone"
        phone = fields.phone(get["phone"], country or settings.default_country)
        field = "language"
        language = fields.language(get["language"])
        field = "timezone"
        timezone = fields.timezone(get["timezone"])
        field = "salesperson_email"
        salesperson = fields.email(get["salesperson_email"])
        field = "invoice_id"
        number = fields.required(get["invoice_id"], "invoice id")
        field = "issue_date"
        issued = fields.parse_date(get["issue_date"], settings.date_format)
        field = "due_date"
        due = fields.due_on_or_after(
            fields.parse_date(get["due_date"], settings.date_format), issued
        )
        field = "currency"
        currency = fields.currency(get["currency"])
        field = "amount"
        amount = fields.parse_amount(
            get["amount"], currency, settings.decimal, settings.thousands
        )
        field = "balance"
        balance = fields.parse_amount(
            get["balance"], currency, settings.decimal, settings.thousands
        )
        if balance < 0:
            raise fields.FieldError(
                f"negative balance {get['balance'].strip()}: an invoice cannot owe the "
                "customer; import overpayments as payments or credit notes"
            )
    except fields.FieldError as exc:
        return Rejected(where, field, str(exc))
    customer = Customer(
        account=account,
        name=name,
        where=where,
        email=email,
        phone=phone,
        tax_id=fields.optional(get["tax_id"]),
        language=language,
        country=country,
        timezone=timezone,
        salesperson_email=salesperson,
        segment=fields.optional(get["segment"]),
    )
    invoice = Invoice(
        number=number,
        account=account,
        issue_date=issued,
        due_date=due,
        currency=currency,
        amount=amount,
        where=where,
        balance=balance,
    )
    return customer, invoice


def plain_cells(customer: Customer, invoice: Invoice) -> tuple[str, ...]:
    """A checked row written back as plain cells (ISO dates, plain decimals)."""
    from cobra.money import Money

    def text(minor: int) -> str:
        return f"{Money(minor, invoice.currency).to_decimal():f}"

    values = {
        "customer_id": customer.account,
        "customer_name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "invoice_id": invoice.number,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "currency": invoice.currency,
        "amount": text(invoice.amount),
        "balance": text(invoice.balance or 0),
        "tax_id": customer.tax_id,
        "language": customer.language,
        "country": customer.country,
        "timezone": customer.timezone,
        "salesperson_email": customer.salesperson_email,
        "segment": customer.segment,
    }
    return tuple(values[name] or "" for name in FIELDS)
