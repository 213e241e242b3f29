"""cobra's tabular layout: one row per invoice, with its customer's details.

This is the layout of cobra's own CSV files, and the shape any importer of
tabular data (a CSV export through a mapping, a spreadsheet) hands to the
ledger as :class:`cobra.records.LayoutRows`: text cells, not yet checked.

:func:`check_row` is the one definition of what each field must be and of
the message when it is not. :class:`LayoutChecker` applies it to batches of
rows at the speed a million-row file needs: a customer's cells repeat on
each of its invoices' rows, so they are checked once per run of equal
cells; dates and currencies repeat too, so each distinct text is read once
by the same functions and remembered; plain amounts ("1234.50") are read
inline. A row the quick reading does not accept goes through check_row,
which either reads it (a negative amount, digits of another script) or says
what is wrong, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

from cobra import fields
from cobra.currencies import MINOR_UNITS
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
# A team has a handful of salespeople, named on every customer's row.
_salesperson = lru_cache(maxsize=256)(fields.email)
# Where(source, line), without the Python-level __new__ of a named tuple:
# one is made for each customer of a file.
_where = partial(tuple.__new__, Where)


@dataclass(frozen=True)
class LayoutSettings:
    """How the text in the cells is written."""

    decimal: str = "."
    thousands: str | None = None
    date_format: str | None = None  # None: ISO 8601, YYYY-MM-DD
    default_country: str | None = None  # for phone numbers without a country

    @property
    def plain(self) -> bool:
        """True when amounts are plain decimals ("1234.50"), read inline."""
        return self.decimal == "." and not self.thousands


def check_customer(
    cells: Sequence[str], where: Where, settings: LayoutSettings
) -> Customer | Rejected:
    """Read the customer's cells of a row (in :data:`FIELDS` order)."""
    field = "customer_id"
    try:
        account = fields.required(cells[0], "customer id")
        field = "customer_name"
        name = fields.required(cells[1], "customer name")
        field = "country"
        country = fields.country(cells[12])
        field = "email"
        email = fields.email(cells[2])
        field = "phone"
        phone = fields.phone(cells[3], country or settings.default_country)
        field = "language"
        language = fields.language(cells[11])
        field = "timezone"
        timezone = fields.timezone(cells[13])
        field = "salesperson_email"
        salesperson = _salesperson(cells[14])
    except fields.FieldError as exc:
        return Rejected(where, field, str(exc))
    return Customer(
        account=account,
        name=name,
        where=where,
        email=email,
        phone=phone,
        tax_id=fields.optional(cells[10]),
        language=language,
        country=country,
        timezone=timezone,
        salesperson_email=salesperson,
        segment=fields.optional(cells[15]),
    )


def check_invoice(
    cells: Sequence[str], where: Where, settings: LayoutSettings, account: str
) -> Invoice | Rejected:
    """Read the invoice's cells of a row whose customer is *account*."""
    field = "invoice_id"
    try:
        number = fields.required(cells[4], "invoice id")
        field = "issue_date"
        issued = fields.parse_date(cells[5], settings.date_format)
        field = "due_date"
        due = fields.due_on_or_after(
            fields.parse_date(cells[6], settings.date_format), issued
        )
        field = "currency"
        currency = fields.currency(cells[7])
        field = "amount"
        amount = fields.parse_amount(
            cells[8], currency, settings.decimal, settings.thousands
        )
        field = "balance"
        balance = fields.parse_amount(
            cells[9], currency, settings.decimal, settings.thousands
        )
        if balance < 0:
            raise fields.FieldError(
                f"negative balance {cells[9].strip()}: an invoice cannot owe the "
                "customer; import overpayments as payments or credit notes"
            )
    except fields.FieldError as exc:
        return Rejected(where, field, str(exc))
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


def check_row(
    cells: Sequence[str], where: Where, settings: LayoutSettings
) -> tuple[Customer, Invoice] | Rejected:
    """Read one row's cells (in :data:`FIELDS` order) or say what is wrong.

    The customer's fields are checked first: a row with a bad customer and a
    bad invoice is reported for the customer.
    """
    if len(cells) != len(FIELDS):
        raise ValueError(f"a layout row has {len(FIELDS)} cells, not {len(cells)}")
    customer = check_customer(cells, where, settings)
    if isinstance(customer, Rejected):
        return customer
    invoice = check_invoice(cells, where, settings, customer.account)
    if isinstance(invoice, Rejected):
        return invoice
    return customer, invoice


# An amount read inline has at most 14 digits before the point: times the
# largest scale (10**4), it stays within SQLite's 64-bit integers.
_INLINE_DIGITS = 14
# The most digits of an amount with exactly the currency's decimals, read
# as minor units at once: 14 before the point and at most 4 after it.
_INLINE_MINOR = _INLINE_DIGITS


def plain_minor(text: str, exponent: int) -> int | None:
    """Minor units of a plain amount ("1234.50"), or None to leave it to fields.

    Accepts only ASCII digits with at most one point and no more significant
    decimals than the currency has, and reads them exactly as
    :func:`cobra.fields.parse_amount` does; anything else (a sign, spaces,
    other separators) returns None.
    """
    whole, point, fraction = text.partition(".")
    if not (whole.isdigit() and whole.isascii()) or len(whole) > _INLINE_DIGITS:
        return None
    if not point:
        return int(whole) * 10**exponent
    if not (fraction.isdigit() and fraction.isascii()):
        return None
    fraction = fraction.rstrip("0")
    if len(fraction) > exponent:
        return None
    return int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or 0)


# Most balances are zero, written in one of these ways whatever the currency.
_ZEROS = frozenset({"0", "0.0", "0.00", "0.000", "0.0000"})

# Remembered texts per checker: dates and currencies repeat, but a file with
# unusual text could hold millions of distinct ones.
_REMEMBERED = 100_000


class LayoutChecker:
    """Checks batches of layout rows of one import.

    ``customer_id(customer)`` is asked for the store id of each customer the
    first time a valid row names it with those cells, so a customer whose
    every row is rejected is never written. :meth:`check` hands back, for
    each valid row, ``(customer id, number, issue date, due date, currency,
    amount, balance, line)`` with ISO dates and amounts in minor units.

    """

    def __init__(
        self, settings: LayoutSettings, customer_id: Callable[[Customer], int]
    ):
        self.settings = settings
        self.customer_id = customer_id
        self.dates: dict[str, str] = {}  # text -> ISO date, or "" if invalid
        self.currencies: dict[str, tuple | None] = {}
        # The last run of equal customer cells: (cells, checked, id or None).
        self.last: tuple = (None, None, None)

    def check(
        self,
        source: str,
        rows: Sequence[Sequence[str]],
        lines: Sequence[int],
        reject: Callable[[Rejected], None],
    ) -> list[tuple]:
        if len(rows) != len(lines):
            raise ValueError("a batch of layout rows needs one line number per row")
        if len(self.dates) > _REMEMBERED:
            self.dates.clear()
        if len(self.currencies) > _REMEMBERED:
            self.currencies.clear()
        return self._rows(source, rows, lines, reject)

    def _rows(
        self,
        source: str,
        rows: Sequence[Sequence[str]],
        lines: Sequence[int],
        reject: Callable[[Rejected], None],
    ) -> list[tuple]:
        # Written for speed: this runs for each row of a large file, so the
        # cells are unpacked into locals and compared one by one, and each
        # step is inline rather than a call.
        settings = self.settings
        plain = settings.plain
        dates, currencies = self.dates, self.currencies
        read_date, read_currency = self._date, self._currency
        last, customer, customer_id = self.last
        k0, k1, k2, k3, k10, k11, k12, k13, k14, k15 = last or (None,) * 10
        bad = customer.__class__ is Rejected
        checked: list[tuple] = []
        append = checked.append
        for cells, line in zip(rows, lines):
            (c0, c1, c2, c3, number, issued, due, currency, amount, balance,
             c10, c11, c12, c13, c14, c15) = cells  # fmt: skip
            if (
                c0 != k0 or c1 != k1 or c2 != k2 or c3 != k3 or c10 != k10
                or c11 != k11 or c12 != k12 or c13 != k13 or c14 != k14 or c15 != k15
            ):  # fmt: skip
                k0, k1, k2, k3, k10, k11, k12, k13, k14, k15 = (
                    c0, c1, c2, c3, c10, c11, c12, c13, c14, c15
                )  # fmt: skip
                customer_id = None
                customer = check_customer(cells, _where((source, line)), settings)
                bad = customer.__class__ is Rejected
            if bad:
                reject(
                    Rejected(_where((source, line)), customer.field, customer.problem)
                )
                continue
            # The quick reading; a None or "" left anywhere sends the row to
            # check_invoice, which reads it or says what is wrong.
            number = number.strip()
            issued = dates.get(issued) or read_date(issued)
            due = dates.get(due) or read_date(due)
            currency = currencies.get(currency) or read_currency(currency)
            if number and issued and due >= issued and currency:
                code, exponent, point = currency
                if plain:
                    # Most amounts have exactly the currency's decimals
                    # ("1234.50"): the digits without the point are the
                    # minor units, read as parse_amount reads them. Any
                    # other form goes through plain_minor.
                    if point is None:
                        text = amount
                    elif amount[point] == ".":
                        text = amount.replace(".", "", 1)
                    else:
                        text = ""
                    if text.isdecimal() and len(text) <= _INLINE_MINOR:
                        amount = int(text)
                    else:
                        amount = plain_minor(amount, exponent)
                    if balance in _ZEROS:
                        balance = 0
                    else:
                        if point is None:
                            text = balance
                        elif balance[point] == ".":
                            text = balance.replace(".", "", 1)
                        else:
                            text = ""
                        if text.isdecimal() and len(text) <= _INLINE_MINOR:
                            balance = int(text)
                        else:
                            balance = plain_minor(balance, exponent)
                else:
                    amount, balance = self._amounts(cells, code)
            else:
                amount = None
            if amount is None or balance is None:
                found = check_invoice(
                    cells, _where((source, line)), settings, customer.account
                )
                if found.__class__ is Rejected:
                    reject(found)
                    continue
                number, code = found.number, found.currency
                issued, due = found.issue_date.isoformat(), found.due_date.isoformat()
                amount, balance = found.amount, found.balance
            if customer_id is None:
                customer_id = self.customer_id(customer)
            append((customer_id, number, issued, due, code, amount, balance, line))
        last = (k0, k1, k2, k3, k10, k11, k12, k13, k14, k15)
        self.last = (last, customer, customer_id)
        return checked

    def _date(self, text: str) -> str:
        try:
            iso = fields.parse_date(text, self.settings.date_format).isoformat()
        except fields.FieldError:
            iso = ""
        self.dates[text] = iso
        return iso

    def _currency(self, text: str) -> tuple[str, int, slice | None] | None:
        """(code, exponent, where the point is in an amount with exactly the
        currency's decimals, or None for a currency without), None if unknown."""
        try:
            code = fields.currency(text)
        except fields.FieldError:
            found = None
        else:
            exponent = MINOR_UNITS[code]
            found = (
                code,
                exponent,
                slice(-exponent - 1, -exponent) if exponent else None,
            )
        self.currencies[text] = found
        return found

    def _amounts(self, cells: Sequence[str], code: str) -> tuple[int | None, ...]:
        """Amount and balance with the settings' separators (None: not valid)."""
        settings = self.settings
        try:
            amount = fields.parse_amount(
                cells[8], code, settings.decimal, settings.thousands
            )
            balance = fields.parse_amount(
                cells[9], code, settings.decimal, settings.thousands
            )
        except fields.FieldError:
            return None, None
        return amount, (balance if balance >= 0 else None)
