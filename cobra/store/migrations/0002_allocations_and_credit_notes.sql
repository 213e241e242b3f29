-- How payments and credit notes settle invoices.
--
-- A payment names the invoices it pays or is spread oldest-first over its
-- customer's open invoices; each share is one allocation row. What a payment
-- does not cover stays with the customer as credit (`payments.amount` minus
-- its allocations), never lost. A credit note reduces the invoice it names,
-- or becomes customer credit in the same way.

CREATE TABLE credit_notes (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    number      TEXT NOT NULL UNIQUE,
    invoice_id  INTEGER REFERENCES invoices(id),
    issue_date  TEXT NOT NULL,
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    source      TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE allocations (
    id             INTEGER PRIMARY KEY,
    invoice_id     INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    payment_id     INTEGER REFERENCES payments(id) ON DELETE CASCADE,
    credit_note_id INTEGER REFERENCES credit_notes(id) ON DELETE CASCADE,
    amount         INTEGER NOT NULL CHECK (amount > 0),
    CHECK ((payment_id IS NULL) <> (credit_note_id IS NULL))
);
CREATE INDEX allocations_by_invoice ON allocations (invoice_id);
CREATE INDEX allocations_by_payment ON allocations (payment_id);

-- When an invoice was closed, and why, for DSO and for `--sync`.
ALTER TABLE invoices ADD COLUMN closed_on TEXT;
