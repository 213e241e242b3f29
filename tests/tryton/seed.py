"""Seed a Tryton database with a small receivables ledger for cobra's tests.

Runs with the Python of the Tryton virtual environment (never cobra's: Tryton
is GPL and cobra only talks to it over HTTP), in-process through proteus,
because seeding over the network costs a round trip per call.

    python seed.py TRYTOND_CONF DATABASE MANIFEST_JSON

The manifest written at the end maps the labels the tests use ("acme-open")
to what Tryton assigned (invoice numbers, party codes) plus the REST key, so
the tests do not depend on how Tryton's sequences count.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal

from proteus import Model, Wizard
from proteus import config as proteus_config
from trytond.modules.account.tests.tools import (
    create_chart,
    create_fiscalyear,
    get_accounts,
)
from trytond.modules.account_invoice.tests.tools import (
    set_fiscalyear_invoice_sequences,
)
from trytond.modules.company.tests.tools import create_company, get_company
from trytond.modules.currency.tests.tools import get_currency

YEAR = 2026

# label: (party code, name, email, phone as typed, country, language)
CUSTOMERS = {
    "acme": (
        "C-ACME",
        "Acme Ltda",
        "cobranza@acme.example",
        "+56 2 2345 6789",
        "CL",
        "es",
    ),
    "beta": (
        "C-BETA",
        "Beta LLC",
        "billing@beta.example",
        "+1 415 555 0100",
        "US",
        "en",
    ),
    # A national number: cobra must read it in the customer's country.
    "gamma": (
        "C-GAMMA",
        "Gamma SARL",
        "compta@gamma.example",
        "01 42 68 53 00",
        "FR",
        "fr",
    ),
    # Reachable through no channel, and without an address or language.
    "delta": ("C-DELTA", "Delta SpA", None, None, None, None),
}


def main(conf: str, database: str, manifest_path: str) -> None:
    config = proteus_config.set_trytond(database, config_file=conf)
    # Every invoice here is dated in the past; Tryton would otherwise stop
    # each posting with a "payment term date in the past" warning.
    config.skip_warning = True

    create_company(currency=get_currency("USD"))
    company = get_company()
    eur = get_currency("EUR")  # the helper gives it a rate, as posting needs
    create_chart(company)
    fiscalyear = create_fiscalyear(
        company, today=(dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))
    )
    set_fiscalyear_invoice_sequences(fiscalyear)
    fiscalyear.save()
    fiscalyear.click("create_period")
    accounts = get_accounts(company)

    net30 = payment_term("Net 30", [(None, 30)])
    # Half after 15 days, the rest after 45: the due date is the earliest.
    split = payment_term("Half 15, half 45", [(Decimal("0.5"), 15), (None, 45)])

    parties = {label: party(*fields) for label, fields in CUSTOMERS.items()}

    invoices = {
        "acme-open": invoice(parties["acme"], "2026-09-01", "1234.50", net30, accounts),
        "acme-partly-paid": invoice(
            parties["acme"], "2026-10-15", "500.00", net30, accounts
        ),
        "beta-paid": invoice(parties["beta"], "2026-08-20", "999.99", net30, accounts),
        "beta-split": invoice(parties["beta"], "2026-11-01", "250.00", split, accounts),
        "gamma-eur": invoice(
            parties["gamma"], "2026-10-05", "780.00", net30, accounts, currency=eur
        ),
        "delta-open": invoice(parties["delta"], "2026-07-10", "75.25", net30, accounts),
    }
    # Tryton numbers invoices from a strict sequence in date order, so they
    # are posted oldest first.
    for record in sorted(invoices.values(), key=lambda r: r.invoice_date):
        record.click("post")

    method = payment_method(company, accounts)
    pay(invoices["acme-partly-paid"], "200.00", "2026-11-20", method, partial=True)
    pay(invoices["beta-paid"], "999.99", "2026-09-15", method)

    # A credit note for part of Acme's first invoice, posted and left open
    # (not reconciled): Tryton keeps it as an invoice with a negative total.
    credit = Wizard("account.invoice.credit", [invoices["acme-open"]])
    credit.form.with_refund = False
    credit.form.invoice_date = dt.date(2026, 11, 10)
    credit.execute("credit")
    Invoice = Model.get("account.invoice")
    (note,) = Invoice.find([("type", "=", "out"), ("state", "=", "draft")])
    (line,) = note.lines
    line.unit_price = Decimal("100.00")
    note.save()
    note.click("post")
    invoices["acme-credit"] = note

    # Neither of these may reach cobra: a draft and a supplier invoice.
    invoice(parties["acme"], "2026-11-25", "42.00", net30, accounts)
    supplier = invoice(
        parties["beta"], "2026-11-12", "10.00", net30, accounts, kind="in"
    )
    supplier.invoice_date = dt.date(2026, 11, 12)
    supplier.click("post")

    Application = Model.get("res.user.application")
    User = Model.get("res.user")
    (admin,) = User.find([("login", "=", "admin")])
    key = Application(user=admin, application="rest")
    key.save()

    for record in invoices.values():
        record.reload()
    manifest = {
        "invoices": {label: record.number for label, record in invoices.items()},
        "states": {label: record.state for label, record in invoices.items()},
        "accounts": {label: p.code for label, p in parties.items()},
        "rest_key": key.key,
    }
    with open(manifest_path, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)


def payment_term(name: str, parts: list[tuple[Decimal | None, int]]):
    PaymentTerm = Model.get("account.invoice.payment_term")
    term = PaymentTerm(name=name)
    for ratio, days in parts:
        line = (
            term.lines.new(type="remainder")
            if ratio is None
            else term.lines.new(type="percent", ratio=ratio)
        )
        if line.relativedeltas:
            line.relativedeltas[0].days = days
        else:
            line.relativedeltas.new(days=days)
    term.save()
    return term


def party(code, name, email, phone, country_code, language):
    Party = Model.get("party.party")
    Country = Model.get("country.country")
    Lang = Model.get("ir.lang")
    record = Party(name=name, code=code)
    if email:
        record.contact_mechanisms.new(type="email", value=email)
    if phone:
        record.contact_mechanisms.new(type="phone", value=phone)
    if country_code:
        # A fresh database has no countries; cobra needs only the code.
        country = Country(name=country_code, code=country_code)
        country.save()
        (address,) = record.addresses
        address.street = "1 Main Street"
        address.country = country
    if language:
        (record.lang,) = Lang.find([("code", "=", language)])
    record.save()
    return record


def invoice(customer, day: str, amount: str, term, accounts, currency=None, kind="out"):
    Invoice = Model.get("account.invoice")
    record = Invoice(type=kind, party=customer, payment_term=term)
    if currency is not None:
        record.currency = currency
    if kind == "out":
        record.invoice_date = dt.date.fromisoformat(day)
    line = record.lines.new()
    line.account = accounts["revenue" if kind == "out" else "expense"]
    line.description = "Services"
    line.quantity = 1
    line.unit_price = Decimal(amount)
    record.save()
    return record


def payment_method(company, accounts):
    Journal = Model.get("account.journal")
    Method = Model.get("account.invoice.payment.method")
    (cash_journal,) = Journal.find([("type", "=", "cash")])
    method = Method(
        name="Bank transfer",
        company=company,
        journal=cash_journal,
        credit_account=accounts["cash"],
        debit_account=accounts["cash"],
    )
    method.save()
    return method


def pay(record, amount: str, day: str, method, partial: bool = False) -> None:
    wizard = record.click("pay")
    wizard.form.amount = Decimal(amount)
    wizard.form.payment_method = method
    wizard.form.date = dt.date.fromisoformat(day)
    wizard.execute("choice")
    if partial:
        # Tryton asks what the rest is: still owed (partial) or written off.
        wizard.form.type = "partial"
        wizard.execute("pay")


if __name__ == "__main__":
    main(*sys.argv[1:4])
