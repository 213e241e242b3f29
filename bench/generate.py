"""Reproducible sample data for cobra's benchmarks and tests.

    python bench/generate.py --customers 1000 --out /tmp/sample --format both

writes ``invoices.csv`` (cobra CSV, one row per invoice with its balance) and/or
``records.jsonl`` (typed customer, invoice, credit_note and payment records).
The same arguments always give byte-identical files, on any machine.

From Python (with ``bench/`` on ``sys.path``)::

    from generate import generate, invoice_rows
    for record in generate(200, seed=7):
        ...

Each customer draws from its own ``random.Random`` seeded with the seed and
its number, so the first N customers of a large set equal a set of N: a test
can regenerate a small slice of what a benchmark loaded.

The data looks real on purpose (names, e-mail domains, phone numbers), so it
must never be sent through a live channel backend.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import os
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from random import Random

# A fixed default, not today: the same command must give the same files
# tomorrow. History covers about two years before this date.
DEFAULT_AS_OF = date(2026, 6, 30)
HISTORY_DAYS = 730

CSV_HEADER = (
    "customer_id,customer_name,email,phone,invoice_id,issue_date,due_date,"
    "currency,amount,balance,tax_id,language,country,timezone,salesperson_email,"
    "segment"
).split(",")
CSV_FILE = "invoices.csv"
JSONL_FILE = "records.jsonl"
FORMATS = {"csv": (CSV_FILE,), "jsonl": (JSONL_FILE,), "both": (CSV_FILE, JSONL_FILE)}

# The seller's own staff: a reserved domain, so no real mailbox is named.
SELLER_DOMAIN = "andesur.example"


class _Rng(Random):
    """random.Random whose integer draws use only random().

    random() and seeding from a string have been stable across Python
    releases; randrange() and choice() add argument checks that cost more
    than the draw itself, and their internals have changed between releases.
    """

    def randrange(self, start: int, stop: int | None = None) -> int:
        if stop is None:
            start, stop = 0, start
        return start + int(self.random() * (stop - start))

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]


class _Table:
    """Weighted choices, picked with one random() call and a bisect."""

    def __init__(self, pairs: Iterable[tuple[object, float]]):
        self.items: list = []
        self.cum: list[float] = []
        total = 0.0
        for item, weight in pairs:
            total += weight
            self.items.append(item)
            self.cum.append(total)
        self.total = total

    def pick(self, rng: Random):
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


def _weights(spec: str) -> _Table:
    """'Ltda.:5|S.A.:2|SpA' -> a table; a missing weight counts 1."""
    pairs = []
    for entry in spec.split("|"):
        item, colon, weight = entry.rpartition(":")
        pairs.append((item, float(weight)) if colon else (entry, 1.0))
    return _Table(pairs)


@dataclass(frozen=True)
class _Currency:
    exponent: int  # ISO 4217 decimals
    per_usd: float  # rough rate, only to size amounts
    granule: int  # smallest amount billed, minor units (COP bills whole pesos)
    charm: int  # taken off a round consumer price: 49.99, 19990


CURRENCIES = {
    "USD": _Currency(2, 1.0, 1, 1),
    "EUR": _Currency(2, 0.92, 1, 1),
    "MXN": _Currency(2, 18.0, 1, 100),
    "CLP": _Currency(0, 950.0, 1, 10),
    "COP": _Currency(2, 4100.0, 100, 10_000),
}

# --- names -----------------------------------------------------------------

ES_SURNAMES = """Rojas González Muñoz Díaz Pérez Soto Contreras Silva Martínez Sepúlveda
    Morales Rodríguez López Fuentes Hernández Torres Araya Flores Espinoza Valenzuela
    Castillo Tapia Reyes Gutiérrez Castro Vargas Álvarez Vásquez Sánchez Fernández
    Ramírez Carrasco Gómez Cortés Herrera Núñez Jara Vergara Rivera Figueroa García
    Jiménez Ruiz Moreno Romero Navarro Domínguez Gil Ortega Delgado Restrepo Ospina
    Cárdenas Salazar Mendoza Aguilar Ortiz Cruz Ramos Medina Vidal Ibáñez Serrano
    Molina Marín Iglesias Peña Quintero""".split()
ES_FIRST = """María José Juan Luis Carlos Ana Francisca Camila Valentina Sofía Diego
    Matías Javier Andrés Pablo Lucía Carmen Isabel Jorge Felipe Daniela Paula Catalina
    Alejandro Fernando Gabriela Ricardo Rosa Patricia Sebastián Tomás Ignacio Claudia
    Marcela Verónica Alberto Raúl Elena Laura Manuel""".split()
ES_TRADES = """Comercial Distribuidora Inversiones Constructora Transportes Servicios
    Importadora Exportadora Agrícola Inmobiliaria Ferretería Panadería Farmacia
    Laboratorio Clínica Textiles Alimentos Grupo Consultora Ingeniería Soluciones
    Industrias Maderas Librería Talleres Frigorífico Imprenta""".split()
ES_PLACES = (
    "del Sur|del Norte|del Pacífico|Andina|Austral|del Valle|La Esperanza|El Roble|"
    "Los Andes|San José|Santa Elena|Cordillera|Altamira|Las Palmas|El Mirador|"
    "Costa Azul|Río Claro|Los Aromos|Tres Ríos|Nueva Era"
).split("|")
EN_SURNAMES = """Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor
    Thomas Moore Martin Jackson Thompson White Harris Clark Lewis Walker Hall Allen
    Young King Wright Scott Green Baker Adams Nelson Carter Mitchell Roberts Turner
    Phillips Campbell Parker Evans Edwards Collins Murphy O'Brien Sullivan Kim Nguyen
    Patel""".split()
EN_FIRST = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth
    William Susan Richard Jessica Joseph Sarah Thomas Karen Daniel Emily Matthew Ashley
    Andrew Megan Kevin Rachel Brian Laura Eric Amanda""".split()
EN_WORDS = (
    "Harbor|Summit|Pioneer|Cedar|Granite|Lakeside|Northwind|Blue Ridge|Silver Creek|"
    "Redwood|Evergreen|Keystone|Liberty|Prairie|Ironwood|Bayview|Maple|Oakmont|"
    "Riverbend|Sterling|Atlas|Beacon|Frontier|Heritage|Meridian|Crescent|Highland|"
    "Coastal|Union|Lone Star"
).split("|")
EN_TRADES = (
    "Supply|Logistics|Foods|Builders|Electric|Dental|Medical Group|Hardware|Freight|"
    "Software|Consulting|Distributors|Manufacturing|Auto Parts|Printing|Landscaping|"
    "Plumbing|Bakery|Provisions|Outfitters|Analytics|Industries|Marine|Farms"
).split("|")
EN_FORMS = _weights("Inc.:4|LLC:5|Co.:2|Corp.:1|:1")
ES_AP_BOXES = _weights(
    "pagos|facturacion|contabilidad|tesoreria|administracion|cuentasporpagar"
)
EN_AP_BOXES = _weights("ap|accounts.payable|billing|accounting|finance")

_SLUGS: dict[str, str] = {}


def _slug(text: str) -> str:
    """Lower-case ASCII letters and digits only: "O'Brien Muñoz" -> 'obrienmunoz'."""
    slug = _SLUGS.get(text)
    if slug is None:
        plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore")
        slug = _SLUGS[text] = "".join(c for c in plain.decode().lower() if c.isalnum())
    return slug


# --- phones and tax ids -----------------------------------------------------


def _digits(rng: Random, n: int) -> str:
    return f"{rng.randrange(10**n):0{n}d}"


def _areas(zones: dict[str, str]) -> _Table:
    """{'America/Chicago': '312:3 773'} -> a table of (area code, zone)."""
    pairs = []
    for zone, spec in zones.items():
        for entry in spec.split():
            area, _, weight = entry.partition(":")
            pairs.append(((area, zone), float(weight or 1)))
    return _Table(pairs)


# Real area codes with the zone each lies in, so that a number and a time zone
# agree the way a contact-hours rule expects.
US_AREAS = _areas(
    {
        "America/New_York": "212:3 646:2 718:2 617:2 215:2 404:2 305:3 704 919 571",
        "America/Chicago": "312:3 773 214:2 713:3 512:2 210:2 612 615",
        "America/Denver": "303:2 801 505",
        "America/Phoenix": "602:2 480",
        "America/Los_Angeles": "213:3 310:2 415:2 619:2 206:2 503 702",
    }
)
MX_AREAS = _areas(
    {
        "America/Mexico_City": "55:30 33:15 222:5 442:5",
        "America/Monterrey": "81:15",
        "America/Tijuana": "664:6",
        "America/Cancun": "998:5",
        "America/Merida": "999:4",
        "America/Hermosillo": "662:4",
    }
)
CO_MOBILE = _weights("300|301|302|304|305|310|311|312|313|314|315|316|317|318|320|350")


def _phone_cl(rng: Random) -> tuple[str, str]:
    zone = "America/Punta_Arenas" if rng.random() < 0.02 else "America/Santiago"
    return "+569" + _digits(rng, 8), zone


def _phone_us(rng: Random) -> tuple[str, str]:
    area, zone = US_AREAS.pick(rng)
    exchange = rng.randrange(200, 1000)
    if exchange % 100 == 11:  # N11 codes are service numbers, never exchanges
        exchange += 1
    return f"+1{area}{exchange}{_digits(rng, 4)}", zone


def _phone_mx(rng: Random) -> tuple[str, str]:
    area, zone = MX_AREAS.pick(rng)
    return "+52" + area + _digits(rng, 10 - len(area)), zone


def _phone_co(rng: Random) -> tuple[str, str]:
    return "+57" + CO_MOBILE.pick(rng) + _digits(rng, 7), "America/Bogota"


def _phone_es(rng: Random) -> tuple[str, str]:
    zone = "Atlantic/Canary" if rng.random() < 0.04 else "Europe/Madrid"
    return "+34" + ("6" if rng.random() < 0.9 else "7") + _digits(rng, 8), zone


# Tax ids carry their real check digits, so a validator in cobra accepts them.


def _rut(rng: Random, company: bool) -> str:
    if company:
        number = rng.randrange(76_000_000, 78_000_000)
    else:
        number = rng.randrange(5_000_000, 26_000_000)
    total, factor = 0, 2
    for digit in reversed(str(number)):
        total += int(digit) * factor
        factor = 2 if factor == 7 else factor + 1
    check = 11 - total % 11
    mark = "0" if check == 11 else "K" if check == 10 else str(check)
    return f"{number:,}".replace(",", ".") + "-" + mark


NIT_WEIGHTS = (3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71)


def _nit(rng: Random, company: bool) -> str:
    if not company:  # a person's cedula has no check digit
        return str(rng.randrange(10_000_000, 1_100_000_000))
    number = rng.randrange(800_000_000, 902_000_000)
    total = sum(
        int(d) * w for d, w in zip(reversed(str(number)), NIT_WEIGHTS, strict=False)
    )
    rest = total % 11
    return f"{number}-{rest if rest < 2 else 11 - rest}"


UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _rfc(rng: Random, company: bool) -> str:
    letters = "".join(rng.choice(UPPER) for _ in range(3 if company else 4))
    since = date(1985 if company else 1960, 1, 1).toordinal()
    born = date.fromordinal(since + rng.randrange(12_000)).strftime("%y%m%d")
    return letters + born + "".join(rng.choice(UPPER + "0123456789") for _ in "123")


def _spanish_id(rng: Random, company: bool) -> str:
    if not company:  # NIF: eight digits and a letter
        number = rng.randrange(10_000_000, 100_000_000)
        return f"{number}{'TRWAGMYFPDXBNJZSQVHLCKE'[number % 23]}"
    digits = f"{rng.randrange(1, 53):02d}{_digits(rng, 5)}"  # CIF: province, serial
    odd = sum(sum(divmod(2 * int(d), 10)) for d in digits[0::2])
    even = sum(int(d) for d in digits[1::2])
    return ("B" if rng.random() < 0.8 else "A") + digits + str(-(odd + even) % 10)


def _ein(rng: Random, company: bool) -> str:
    return f"{rng.randrange(10, 99)}-{_digits(rng, 7)}"


@dataclass(frozen=True)
class _Country:
    code: str
    currency: str
    spanish: float  # share of customers who read Spanish
    phone: Callable[[Random], tuple[str, str]]  # -> (E.164 number, time zone)
    tax_id: Callable[[Random, bool], str]
    consumer_tax_id: float  # share of people who gave one
    legal_forms: _Table
    web_tlds: _Table
    mail_hosts: _Table


COUNTRIES = _Table(
    [
        (
            _Country(
                "CL", "CLP", 1.0, _phone_cl, _rut, 0.6,
                _weights("Ltda.:5|S.A.:2|SpA:4|E.I.R.L.:1"),
                _weights("cl"),
                _weights("gmail.com:6|hotmail.com:2|outlook.com|yahoo.com"),
            ),
            30,
        ),
        (
            _Country(
                "US", "USD", 0.08, _phone_us, _ein, 0.0,
                EN_FORMS,
                _weights("com:9|net"),
                _weights("gmail.com:5|yahoo.com:2|outlook.com:2|icloud.com|aol.com"),
            ),
            25,
        ),
        (
            _Country(
                "MX", "MXN", 1.0, _phone_mx, _rfc, 0.3,
                _weights("S.A. de C.V.:6|S. de R.L. de C.V.:2|S.A.P.I. de C.V.:1"),
                _weights("com.mx:4|mx|com:2"),
                _weights("gmail.com:5|hotmail.com:3|outlook.com:2|prodigy.net.mx"),
            ),
            15,
        ),
        (
            _Country(
                "CO", "COP", 1.0, _phone_co, _nit, 0.5,
                _weights("S.A.S.:6|Ltda.:2|S.A.:2"),
                _weights("com.co:4|co:2|com"),
                _weights("gmail.com:6|hotmail.com:3|outlook.com|yahoo.com"),
            ),
            15,
        ),
        (
            _Country(
                "ES", "EUR", 1.0, _phone_es, _spanish_id, 0.5,
                _weights("S.L.:6|S.A.:2|S.L.U.:1"),
                _weights("es:3|com:2"),
                _weights(
                    "gmail.com:5|hotmail.es:2|yahoo.es|outlook.es|telefonica.net"
                ),
            ),
            15,
        ),
    ]
)  # fmt: skip


def _team(country: _Country) -> list[str]:
    # The seller's staff is the same for every seed, so it has its own Random.
    rng = Random("salespeople-" + country.code)
    spanish = country.spanish >= 0.5
    first, last = (ES_FIRST, ES_SURNAMES) if spanish else (EN_FIRST, EN_SURNAMES)
    return [
        f"{_slug(rng.choice(first))}.{_slug(rng.choice(last))}@{SELLER_DOMAIN}"
        for _ in range(8)
    ]


TEAMS = {country.code: _team(country) for country in COUNTRIES.items}


# --- payment personalities -------------------------------------------------

GOOD, LATE, STRUGGLING, DISPUTER, NEW_SPIKE, NEVER_PAYS = range(6)
PERSONAS = _Table(
    [
        (GOOD, 42),  # pays by the due date
        (LATE, 25),  # now and then a few weeks late
        (STRUGGLING, 13),  # late, in parts, and leaves some debts behind
        (DISPUTER, 7),  # contests a bill: credit notes, short payments
        (NEW_SPIKE, 8),  # a recent customer whose last bill jumped
        (NEVER_PAYS, 5),  # a few bills, nothing or a token paid
    ]
)
SEGMENTS = _weights("enterprise:10|smb:50|consumer:40")
# A customer's typical invoice in US dollars, drawn log-uniformly in between.
SIZES = {"enterprise": (3_000, 80_000), "smb": (300, 12_000), "consumer": (15, 400)}
TERMS = {
    "enterprise": _Table([(30, 2), (45, 4), (60, 4)]),
    "smb": _Table([(30, 6), (45, 3), (60, 1)]),
    "consumer": _Table([(30, 1)]),
}
# Days between a customer's invoices; weighted so the average is ten invoices.
CADENCE = _Table([(30, 22), (45, 10), (60, 20), (91, 25), (120, 12), (182, 11)])
# Share of customers whose payments name the invoices they settle; the others
# pay "on account" and leave the allocation, oldest invoice first, to cobra.
REMITTANCE = {"enterprise": 0.85, "smb": 0.6, "consumer": 0.25}

PAY, CREDIT = 0, 1


@dataclass
class Account:
    """One customer's history, amounts in integer minor units."""

    customer: dict  # the customer record's fields, without "type"
    currency: str
    # [invoice_id, issue ordinal, due ordinal, amount, balance]
    invoices: list[list] = field(default_factory=list)
    # (credit_note_id, invoice_id, date ordinal, amount)
    credit_notes: list[tuple] = field(default_factory=list)
    # (payment_id, date ordinal, amount, [invoice_id, ...])
    payments: list[tuple] = field(default_factory=list)


class _Generator:
    def __init__(self, seed: int, as_of: date):
        self.seed = seed
        self.as_of = as_of.toordinal()
        self.rng = _Rng()
        self.invoice_seq = self.payment_seq = self.credit_seq = 0

    def account(self, number: int) -> Account:
        rng = self.rng
        # Reseeded per customer, so customer N is the same whatever the total.
        rng.seed(f"{self.seed}:{number}")
        country: _Country = COUNTRIES.pick(rng)
        segment = SEGMENTS.pick(rng)
        persona = PERSONAS.pick(rng)
        spanish = rng.random() < country.spanish
        account = Account(
            _customer(rng, number, country, segment, spanish), country.currency
        )
        self._invoices(rng, account, persona, segment)
        return account

    def _invoices(self, rng: Random, account: Account, persona: int, segment: str):
        as_of = self.as_of
        money = CURRENCIES[account.currency]
        granule = money.granule
        low, high = SIZES[segment]
        typical = low * (high / low) ** rng.random() * money.per_usd
        typical = int(typical * 10**money.exponent)
        if segment == "consumer":  # a plan price, such as 49.99 or 19990
            step = 10 ** max(len(str(typical)) - 2, 0)
            typical = max(round(typical / step) * step - money.charm, granule)
        terms = TERMS[segment].pick(rng)

        gap, last, cap = CADENCE.pick(rng), as_of, 10**6
        if persona == NEW_SPIKE:  # the spike is the last bill, recently due
            gap, last = 30, as_of - terms - rng.randrange(25)
            start = last - rng.randrange(30, 150)
        elif persona == NEVER_PAYS:  # service is cut after a few unpaid bills
            gap, cap = 30, rng.randrange(1, 5)
            start = as_of - rng.randrange(60, 420)
        elif rng.random() < 0.72:  # a customer from before the window
            start = as_of - HISTORY_DAYS - rng.randrange(gap)
        else:
            start = as_of - rng.randrange(30, HISTORY_DAYS)
        window = as_of - HISTORY_DAYS
        day = start if start >= window else window + rng.randrange(gap)

        issued: list[tuple[int, int]] = []
        while day <= last and len(issued) < cap:
            if segment != "consumer":
                amount = typical * rng.lognormvariate(0, 0.35)
            elif rng.random() < 0.15:  # usage on top of the plan
                amount = typical * rng.uniform(1.1, 2.5)
            else:
                amount = typical
            issued.append((day, max(int(amount) // granule * granule, granule)))
            day += max(gap + rng.randrange(-4, 5), 7)
        if persona == NEW_SPIKE:
            day, amount = issued[-1]
            issued[-1] = (day, int(amount * rng.uniform(3, 8)) // granule * granule)

        disputed = ()
        if persona == DISPUTER:
            half = len(issued) // 2
            disputed = [
                rng.randrange(half, len(issued))
                for _ in range(1 + (rng.random() < 0.3))
            ]
        remits = persona == DISPUTER or rng.random() < REMITTANCE[segment]
        # Businesses that name invoices pay them in a weekly payment run.
        payday = rng.randrange(5) if remits and segment != "consumer" else None

        events: list[tuple[int, int, int, int]] = []  # (date, invoice, kind, amount)
        for index, (issue, amount) in enumerate(issued):
            self.invoice_seq += 1
            due = issue + terms
            invoice_id = f"INV-{self.invoice_seq:08d}"
            account.invoices.append([invoice_id, issue, due, amount, amount])
            spike = persona == NEW_SPIKE and index == len(issued) - 1
            for when, kind, part in _settle(
                rng, persona, issue, due, amount, granule,
                index in disputed, spike, index == 0,
            ):  # fmt: skip
                if payday is not None and kind == PAY:
                    when += (payday - (when - 1) % 7) % 7  # ordinal 1 is a Monday
                if when <= as_of:  # what has not happened yet stays open
                    events.append((when, index, kind, part))
        events.sort()
        if remits:
            self._remitted(account, events)
        else:
            self._on_account(account, events)

    def _remitted(self, account: Account, events: list) -> None:
        """Payments name their invoices; those settled on one day are batched."""
        invoices = account.invoices
        credited: set[int] = set()
        batches: dict[int, list[tuple[int, int]]] = {}  # date -> [(invoice, part)]
        rows: list[tuple[int, list[str], int]] = []
        for when, index, kind, part in events:
            invoice = invoices[index]
            invoice[4] -= part
            if kind == CREDIT:
                self.credit_seq += 1
                credit_note_id = f"CN-{self.credit_seq:08d}"
                account.credit_notes.append((credit_note_id, invoice[0], when, part))
                credited.add(index)
            # A payment naming several invoices settles each of them exactly,
            # and a credited invoice is paid on its own: so the balances are
            # the same in whatever order cobra applies the records.
            elif invoice[4] == 0 and index not in credited:
                batches.setdefault(when, []).append((index, part))
            else:
                rows.append((when, [invoice[0]], part))
        for when, group in batches.items():
            ids = [invoices[index][0] for index, _ in group]
            rows.append((when, ids, sum(part for _, part in group)))
        rows.sort()
        for when, ids, total in rows:
            self.payment_seq += 1
            account.payments.append((f"PAY-{self.payment_seq:08d}", when, total, ids))

    def _on_account(self, account: Account, events: list) -> None:
        """One unnamed payment a day; balances fill the oldest invoice first."""
        by_day: dict[int, int] = {}
        for when, _, _, part in events:
            by_day[when] = by_day.get(when, 0) + part
        for when, total in sorted(by_day.items()):
            self.payment_seq += 1
            account.payments.append((f"PAY-{self.payment_seq:08d}", when, total, []))
        # Every payment followed an invoice issued before it, so filling in
        # issue order reaches only invoices that existed on the payment's day.
        paid = sum(by_day.values())
        for invoice in account.invoices:
            applied = min(paid, invoice[3])
            invoice[4] = invoice[3] - applied
            paid -= applied


def _customer(rng: Random, number: int, country: _Country, segment: str, spanish: bool):
    company = segment != "consumer"
    if company:
        name, core, (first, last) = _company(rng, country, spanish)
        if rng.random() < 0.3:  # a named person in accounts payable
            given, family = _slug(first), _slug(last)
            box = given[0] + family if spanish else f"{given}.{family}"
        else:
            box = (ES_AP_BOXES if spanish else EN_AP_BOXES).pick(rng)
        email = f"{box}@{_slug(core)}.{country.web_tlds.pick(rng)}"
    else:
        name, first, last = _person(rng, spanish)
        email = _personal_email(rng, first, last, country)
    phone, timezone = country.phone(rng)
    tax_id = None
    if rng.random() < (0.9 if company else country.consumer_tax_id):
        tax_id = country.tax_id(rng, company)
    return {
        "customer_id": f"C{number:07d}",
        "name": name,
        "email": email,
        "phone": phone,
        "tax_id": tax_id,
        "language": "es" if spanish else "en",
        "country": country.code,
        "timezone": timezone,
        "salesperson_email": rng.choice(TEAMS[country.code]),
        "segment": segment,
    }


def _company(rng: Random, country: _Country, spanish: bool):
    """Return the legal name, the words its web domain is made of, a contact."""
    shape = rng.random()
    if spanish:
        first, a = rng.choice(ES_FIRST), rng.choice(ES_SURNAMES)
        if country.code == "US":
            core = f"{a} {rng.choice(EN_TRADES)}"
        elif shape < 0.4:
            core = f"{rng.choice(ES_TRADES)} {a}"
        elif shape < 0.7:
            core = f"{rng.choice(ES_TRADES)} {rng.choice(ES_PLACES)}"
        elif shape < 0.85:
            core = f"{a} y {rng.choice(ES_SURNAMES)}"
        elif shape < 0.97:
            core = f"{a} Hermanos"
        else:  # a comma inside a name keeps CSV quoting honest
            core = f"{rng.choice(ES_TRADES)} {a}, {rng.choice(ES_SURNAMES)} y Cía."
        domain = core.replace(" y ", " ").replace(" Cía.", "")
    else:
        first, a = rng.choice(EN_FIRST), rng.choice(EN_SURNAMES)
        if shape < 0.55:
            core = f"{rng.choice(EN_WORDS)} {rng.choice(EN_TRADES)}"
        elif shape < 0.8:
            core = f"{a} {rng.choice(EN_TRADES)}"
        elif shape < 0.92:
            core = f"{a} & {rng.choice(EN_SURNAMES)}"
        else:
            core = f"{a} Brothers {rng.choice(EN_TRADES)}"
        domain = core
    form = country.legal_forms.pick(rng)
    return (f"{core} {form}" if form else core), domain, (first, a)


def _person(rng: Random, spanish: bool) -> tuple[str, str, str]:
    """Return the full name, the first name and the first surname."""
    if not spanish:
        first, last = rng.choice(EN_FIRST), rng.choice(EN_SURNAMES)
        return f"{first} {last}", first, last
    first, last = rng.choice(ES_FIRST), rng.choice(ES_SURNAMES)
    if rng.random() < 0.7:  # two surnames, as most Spanish speakers use
        return f"{first} {last} {rng.choice(ES_SURNAMES)}", first, last
    return f"{first} {last}", first, last


def _personal_email(rng: Random, first: str, last: str, country: _Country) -> str:
    given, family = _slug(first), _slug(last)
    shape = rng.random()
    if shape < 0.35:
        box = f"{given}.{family}"
    elif shape < 0.6:
        box = f"{given[0]}{family}{rng.randrange(1, 100)}"
    elif shape < 0.8:
        box = f"{given}{family}{rng.randrange(60, 100)}"  # a birth year
    else:
        box = f"{given}_{family}"
    return f"{box}@{country.mail_hosts.pick(rng)}"


def _part(rng: Random, left: int, low: float, high: float, granule: int) -> int:
    """A round share of what is left, as people pay it; 0 means all of it."""
    raw = int(left * rng.uniform(low, high))
    step = max(10 ** max(len(str(raw)) - 2, 0), granule)
    part = raw // step * step
    return part if 0 < part < left else 0


def _settle(rng, persona, issue, due, amount, granule, disputed, spike, first):
    """What happens to one invoice: [(date ordinal, PAY or CREDIT, amount)]."""
    earliest = issue + 1
    if persona == GOOD or persona == NEW_SPIKE:
        if spike:  # the surprise bill is not paid yet
            return []
        return [(max(due + rng.randrange(-12, 3), earliest), PAY, amount)]

    if persona == LATE or (persona == DISPUTER and not disputed):
        late = rng.randrange(-5, 5) if rng.random() < 0.75 else rng.randrange(5, 61)
        return [(max(due + late, earliest), PAY, amount)]

    if persona == STRUGGLING:
        shape = rng.random()
        parts = 1 if shape < 0.4 else 2 if shape < 0.75 else 3
        events, when, left = [], due + rng.randrange(10, 91), amount
        for k in range(parts):
            if rng.random() < 0.12:  # gives up on this one: an old debt stays
                break
            part = (_part(rng, left, 0.3, 0.6, granule) if k < parts - 1 else 0) or left
            events.append((when, PAY, part))
            left -= part
            if not left:
                break
            when += rng.randrange(14, 46)
        return events

    if persona == DISPUTER:
        shape = rng.random()
        if shape < 0.4:  # settled with a credit note, the rest paid or not
            when = issue + rng.randrange(15, 76)
            credit = _part(rng, amount, 0.1, 1.0, granule) or amount
            events = [(when, CREDIT, credit)]
            if credit < amount and rng.random() < 0.6:
                events.append((when + rng.randrange(3, 31), PAY, amount - credit))
            return events
        if shape < 0.7:  # pays what it accepts and withholds the rest
            part = _part(rng, amount, 0.5, 0.9, granule)
            return [(max(due + rng.randrange(21), earliest), PAY, part)] if part else []
        return []

    # NEVER_PAYS: at most a token payment on the first bill, then silence.
    if first and rng.random() < 0.25:
        part = _part(rng, amount, 0.05, 0.2, granule)
        return [(due + rng.randrange(5, 41), PAY, part)] if part else []
    return []


# --- output ----------------------------------------------------------------

_ISO: dict[int, str] = {}


def _iso(ordinal: int) -> str:
    # Only a few hundred distinct days occur, and isoformat() is the hot spot.
    text = _ISO.get(ordinal)
    if text is None:
        text = _ISO[ordinal] = date.fromordinal(ordinal).isoformat()
    return text


def money(minor: int, currency: str) -> str:
    """Major units with the currency's ISO decimals: 123450 USD -> '1234.50'."""
    exponent = CURRENCIES[currency].exponent
    if not exponent:
        return str(minor)
    whole, cents = divmod(minor, 10**exponent)
    return f"{whole}.{cents:0{exponent}d}"


def accounts(
    customers: int, seed: int = 1, as_of: date = DEFAULT_AS_OF
) -> Iterator[Account]:
    """Each customer's history in minor units, one at a time."""
    generator = _Generator(seed, as_of)
    for number in range(1, customers + 1):
        yield generator.account(number)


def _records(account: Account) -> Iterator[dict]:
    customer = account.customer
    customer_id, currency = customer["customer_id"], account.currency
    yield {"type": "customer", **customer}
    for invoice_id, issue, due, amount, _ in account.invoices:
        yield {
            "type": "invoice",
            "invoice_id": invoice_id,
            "customer_id": customer_id,
            "issue_date": _iso(issue),
            "due_date": _iso(due),
            "currency": currency,
            "amount": money(amount, currency),
        }
    # Credit notes come before payments, so an importer that applies records
    # in file order reaches the same balances as one that sorts by date.
    for credit_note_id, invoice_id, when, amount in account.credit_notes:
        yield {
            "type": "credit_note",
            "credit_note_id": credit_note_id,
            "customer_id": customer_id,
            "invoice_id": invoice_id,
            "issue_date": _iso(when),
            "currency": currency,
            "amount": money(amount, currency),
        }
    for payment_id, when, amount, invoice_ids in account.payments:
        yield {
            "type": "payment",
            "payment_id": payment_id,
            "customer_id": customer_id,
            "date": _iso(when),
            "currency": currency,
            "amount": money(amount, currency),
            "invoice_ids": invoice_ids,
        }


def _csv_rows(account: Account) -> Iterator[list[str]]:
    c, currency = account.customer, account.currency
    head = [c["customer_id"], c["name"], c["email"], c["phone"]]
    tail = [
        c["tax_id"] or "",
        c["language"],
        c["country"],
        c["timezone"],
        c["salesperson_email"],
        c["segment"],
    ]
    for invoice_id, issue, due, amount, balance in account.invoices:
        yield (
            head
            + [
                invoice_id,
                _iso(issue),
                _iso(due),
                currency,
                money(amount, currency),
                money(balance, currency),
            ]
            + tail
        )


def generate(
    customers: int, seed: int = 1, as_of: date = DEFAULT_AS_OF
) -> Iterator[dict]:
    """Yield the records of ``records.jsonl``, customer by customer.

    Per customer: its ``customer`` record, its invoices by issue date, its
    credit notes, then its payments by date. A payment with no invoice_ids is
    meant to be allocated to the oldest open invoice first.
    """
    for account in accounts(customers, seed, as_of):
        yield from _records(account)


def invoice_rows(
    customers: int, seed: int = 1, as_of: date = DEFAULT_AS_OF
) -> Iterator[dict]:
    """Yield the rows of ``invoices.csv`` as dicts keyed by ``CSV_HEADER``."""
    for account in accounts(customers, seed, as_of):
        for row in _csv_rows(account):
            yield dict(zip(CSV_HEADER, row, strict=True))


def write(
    out: Path,
    customers: int,
    seed: int = 1,
    as_of: date = DEFAULT_AS_OF,
    fmt: str = "csv",
) -> dict[str, int]:
    """Write the chosen files into ``out`` in one pass; return record counts."""
    out.mkdir(parents=True, exist_ok=True)
    names = FORMATS[fmt]
    # Written beside the target and renamed at the end, so an interrupted run
    # never leaves a file that looks complete.
    temps = {name: out / f".{name}.tmp" for name in names}
    counts = dict.fromkeys(("customers", "invoices", "credit_notes", "payments"), 0)
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    csv_file = jsonl_file = None
    try:
        if CSV_FILE in names:
            csv_file = open(temps[CSV_FILE], "w", encoding="utf-8", newline="")
            rows = csv.writer(csv_file, lineterminator="\n")
            rows.writerow(CSV_HEADER)
        if JSONL_FILE in names:
            jsonl_file = open(temps[JSONL_FILE], "w", encoding="utf-8", newline="\n")
        for account in accounts(customers, seed, as_of):
            counts["customers"] += 1
            counts["invoices"] += len(account.invoices)
            counts["credit_notes"] += len(account.credit_notes)
            counts["payments"] += len(account.payments)
            if csv_file:
                rows.writerows(_csv_rows(account))
            if jsonl_file:
                jsonl_file.writelines(
                    encode(record) + "\n" for record in _records(account)
                )
    except BaseException:
        for handle in (csv_file, jsonl_file):
            if handle:
                handle.close()
        for temp in temps.values():
            temp.unlink(missing_ok=True)
        raise
    for handle in (csv_file, jsonl_file):
        if handle:
            handle.close()
    for name, temp in temps.items():
        os.replace(temp, out / name)
    return counts


def _as_of(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        message = f"not a date: {text!r} (use YYYY-MM-DD)"
        raise argparse.ArgumentTypeError(message) from None


def _count(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="generate.py",
        description="Write reproducible sample customers, invoices and payments "
        "in cobra's import formats.",
    )
    parser.add_argument("--customers", type=_count, required=True, metavar="N")
    parser.add_argument("--seed", type=int, default=1, metavar="S")
    parser.add_argument(
        "--as-of",
        type=_as_of,
        default=DEFAULT_AS_OF,
        metavar="YYYY-MM-DD",
        help=f"last day of the history (default {DEFAULT_AS_OF})",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument("--format", choices=sorted(FORMATS), default="csv")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        counts = write(args.out, args.customers, args.seed, args.as_of, args.format)
    except OSError as error:
        print(f"generate.py: cannot write to {args.out}: {error}", file=sys.stderr)
        return 1
    took = time.perf_counter() - started
    summary = ", ".join(f"{n:,} {what.replace('_', ' ')}" for what, n in counts.items())
    files = ", ".join(str(args.out / name) for name in FORMATS[args.format])
    print(f"{summary} -> {files} in {took:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
