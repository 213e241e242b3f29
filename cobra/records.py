"""The records importers produce and the ledger stores.

An importer turns a source (a file, a folder, a server) into a stream of
these: customers, invoices, credit notes and payments, each knowing where it
came from, or :class:`Rejected` for an input it could not read. Amounts are
integer minor units with their currency, dates are :class:`datetime.date`;
the importer has already checked every field, so the ledger only checks what
needs the whole import or the store (duplicates, unknown customers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple


class Where(NamedTuple):
    """A place in a source, for messages: ``invoices.csv:17``.

    A named tuple rather than a dataclass: one is made per imported row, and
    a tuple is the cheapest object Python builds.
    """

    source: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.source}:{self.line}" if self.line is not None else self.source


@dataclass(slots=True)
class Customer:
    account: str  # the customer's id in the source system
    name: str
    where: Where
    email: str | None = None
    phone: str | None = None  # E.164
    tax_id: str | None = None
    language: str | None = None
    country: str | None = None
    timezone: str | None = None
    salesperson_email: str | None = None
    segment: str | None = None

    def profile(self) -> tuple:
        """Every stored field but the contacts, to tell a changed customer."""
        return (
            self.name,
            self.tax_id,
            self.language,
            self.country,
            self.timezone,
            self.segment,
            self.salesperson_email,
        )


@dataclass(slots=True)
class Invoice:
    number: str
    account: str
    issue_date: date
    due_date: date
    currency: str
    amount: int  # minor units
    where: Where
    # What is still open, when the source says so (an aging export). None
    # means the source gives payments instead, and the ledger works it out.
    balance: int | None = None


@dataclass(slots=True)
class CreditNote:
    number: str
    account: str
    issue_date: date
    currency: str
    amount: int  # minor units, positive
    where: Where
    invoice_number: str | None = None  # the invoice it corrects, if named


@dataclass(slots=True)
class Payment:
    reference: str
    account: str
    paid_on: date
    currency: str
    amount: int  # minor units, positive
    where: Where
    # The invoices it pays; empty means oldest-first within the customer.
    invoice_numbers: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input that could not be read, with the field and what is wrong."""

    where: Where
    field: str
    problem: str

    def __str__(self) -> str:
        return (
            f"{self.where}: {self.field}: {self.problem}"
            if self.field
            else (f"{self.where}: {self.problem}")
        )


@dataclass(slots=True)
class LayoutRows:
    """A batch of rows in cobra's tabular layout, as text not yet checked.

    Importers of tabular data yield these instead of one Customer and one
    Invoice per row: the ledger checks them in bulk, far faster than row by
    row, and reports bad ones exactly as :func:`cobra.layout.check_row`
    would. Each row is a sequence of cells (a list or a tuple of str) in
    :data:`cobra.layout.FIELDS` order; ``lines[i]`` is the line row ``i``
    starts on, for messages.
    """

    source: str
    settings: object  # cobra.layout.LayoutSettings, hashable
    rows: list[Sequence[str]]
    lines: list[int]


Record = Customer | Invoice | CreditNote | Payment | Rejected | LayoutRows
