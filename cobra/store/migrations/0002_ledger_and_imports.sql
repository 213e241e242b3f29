-- How payments and credit notes settle invoices, and the import runs that
-- brought each record in.
--
-- A payment names the invoices it pays or is spread oldest-first over its
-- customer's open invoices; each share is one allocation row. What a payment
-- does not cover stays with the customer as credit (`payments.amount` minus
-- its allocations), never lost. A credit note reduces the invoice it names,
-- or the oldest open ones, in the same way.

CREATE TABLE imports (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    sources     TEXT NOT NULL,                   -- JSON array of what was read
    sync        INTEGER NOT NULL DEFAULT 0,
    summary     TEXT                             -- JSON counts, once finished
);

CREATE TABLE credit_notes (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    number      TEXT NOT NULL UNIQUE,
    invoice_id  INTEGER REFERENCES invoices(id),
    issue_date  TEXT NOT NULL,
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    source      TEXT,
    import_id   INTEGER REFERENCES imports(id),
    created_at  TEXT NOT NULL
);
-- Foreign-key checks on invoices look credit notes up by invoice.
CREATE INDEX credit_notes_by_invoice ON credit_notes (invoice_id);

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
CREATE INDEX allocations_by_credit_note ON allocations (credit_note_id);

-- `seen_import` is the last import that contained the record and
-- `changed_import` the last that changed it: together they give the
-- inserted/updated/unchanged counts, and `--sync` closes the open invoices
-- the latest import did not see.
ALTER TABLE customers ADD COLUMN seen_import INTEGER;
ALTER TABLE customers ADD COLUMN changed_import INTEGER;
ALTER TABLE invoices ADD COLUMN seen_import INTEGER;
ALTER TABLE invoices ADD COLUMN changed_import INTEGER;
-- When the invoice stopped being open: the date of the payment or credit
-- note that settled it, or the import that first found it paid or that
-- closed it by --sync. NULL for an invoice already paid when first imported
-- from a source that states balances but not payment dates.
ALTER TABLE invoices ADD COLUMN closed_on TEXT;
ALTER TABLE payments ADD COLUMN import_id INTEGER REFERENCES imports(id);
