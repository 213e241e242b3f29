-- The first schema: the portfolio (customers and how to reach them) and the
-- ledger (invoices, credit notes, payments).
--
-- Conventions for every table: money is INTEGER minor units next to a
-- three-letter ISO 4217 `currency`; dates are ISO 8601 `YYYY-MM-DD` text;
-- instants are ISO 8601 text in UTC with an explicit offset (`...+00:00`).

CREATE TABLE customers (
    id                INTEGER PRIMARY KEY,
    account           TEXT NOT NULL UNIQUE,      -- the customer's id in the source
    name              TEXT NOT NULL,
    tax_id            TEXT,
    language          TEXT,                      -- BCP 47 tag: es, en-US
    country           TEXT,                      -- ISO 3166-1 alpha-2
    timezone          TEXT,                      -- IANA name
    segment           TEXT,
    salesperson_email TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

-- Ways to reach a customer. A contact found wrong (bounced, wrong person) is
-- kept with `invalid_since` set, so it is not re-added by the next import.
CREATE TABLE contacts (
    id             INTEGER PRIMARY KEY,
    customer_id    INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('email', 'phone')),
    value          TEXT NOT NULL,                -- an address, or an E.164 number
    label          TEXT,
    invalid_since  TEXT,
    invalid_reason TEXT,
    UNIQUE (customer_id, kind, value)
);

-- A customer who asked not to be contacted through a channel.
CREATE TABLE opt_outs (
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    channel     TEXT NOT NULL,
    since       TEXT NOT NULL,
    note        TEXT,
    PRIMARY KEY (customer_id, channel)
);

CREATE TABLE invoices (
    id             INTEGER PRIMARY KEY,
    customer_id    INTEGER NOT NULL REFERENCES customers(id),
    number         TEXT NOT NULL UNIQUE,         -- the invoice's id in the source
    issue_date     TEXT NOT NULL,
    due_date       TEXT NOT NULL,
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    amount         INTEGER NOT NULL,
    balance        INTEGER NOT NULL CHECK (balance >= 0),
    status         TEXT NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'paid', 'settled_by_sync', 'written_off')),
    disputed_since TEXT,
    source         TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    CHECK (due_date >= issue_date)
);
CREATE INDEX invoices_by_customer ON invoices (customer_id, status, due_date);

CREATE TABLE payments (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    reference   TEXT NOT NULL UNIQUE,            -- the payment's id in the source
    paid_on     TEXT NOT NULL,
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    source      TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX payments_by_customer ON payments (customer_id, paid_on);
