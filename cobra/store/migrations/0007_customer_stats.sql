-- What diagnosis needs to know about each customer, computed ahead of time
-- so that `cobra prioritize` reads one row per customer instead of
-- aggregating every invoice and payment (cobra/store/evidence.py).
--
-- A row holds the figures of the evidence queries as of its `anchor` date
-- (the latest date in the ledger when it was computed), and stays exact for
-- every as-of date from `anchor` up to the day before `valid_until`: until
-- then no invoice falls due, no closed invoice leaves the sixty- or the
-- 180-day window, and nothing later than `anchor` is in the ledger. Dates
-- outside that range, and customers without a row, are computed from the
-- ledger as before. NULL `valid_until`: exact for every later date.
--
-- The triggers below delete a customer's row whenever what it was computed
-- from changes, whoever changes it; `cobra import` computes the missing rows
-- again at the end of its transaction.

CREATE TABLE customer_stats (
    customer_id             INTEGER PRIMARY KEY
                            REFERENCES customers(id) ON DELETE CASCADE,
    anchor                  TEXT NOT NULL,
    valid_until             TEXT,
    -- as in the invoice facts query
    open_invoices           INTEGER NOT NULL,
    overdue_invoices        INTEGER NOT NULL,
    oldest_due              TEXT,
    oldest_open_due         TEXT,
    overdue_sixty_days_ago  INTEGER,
    partial_open            INTEGER,
    closed_with_date        INTEGER,
    paid_invoices           INTEGER,
    paid_on_time            INTEGER,
    avg_days_late           REAL,
    recent_days_late        REAL,
    earlier_days_late       REAL,
    disputed_open           INTEGER,
    disputed_overdue        INTEGER,
    invoices                INTEGER NOT NULL,
    first_issue             TEXT,
    -- the latest invoice against the usual one
    latest_currency         TEXT,
    latest_amount           INTEGER,
    billed                  INTEGER,
    billed_invoices         INTEGER,
    -- overdue minor units per currency, a JSON object: {"CLP": 125000};
    -- and when that is one currency, it and its amount, cheaper to read
    overdue                 TEXT,
    overdue_currency        TEXT,
    overdue_amount          INTEGER,
    -- julianday() of three dates above, so days between are a subtraction
    oldest_due_day          REAL,
    oldest_open_due_day     REAL,
    first_issue_day         REAL,
    payments                INTEGER NOT NULL,
    contacts                INTEGER NOT NULL,
    bounced_contacts        INTEGER NOT NULL
);
CREATE TRIGGER customer_stats_invoice_added AFTER INSERT ON invoices
BEGIN
    DELETE FROM customer_stats WHERE customer_id = NEW.customer_id;
END;

CREATE TRIGGER customer_stats_invoice_removed AFTER DELETE ON invoices
BEGIN
    DELETE FROM customer_stats WHERE customer_id = OLD.customer_id;
END;

-- Not on updated_at, seen_import and the like, which every import rewrites.
CREATE TRIGGER customer_stats_invoice_changed
AFTER UPDATE OF customer_id, issue_date, due_date, currency, amount, balance, status,
                disputed_since, closed_on ON invoices
WHEN NEW.customer_id IS NOT OLD.customer_id OR NEW.issue_date IS NOT OLD.issue_date
  OR NEW.due_date IS NOT OLD.due_date OR NEW.currency IS NOT OLD.currency
  OR NEW.amount IS NOT OLD.amount OR NEW.balance IS NOT OLD.balance
  OR NEW.status IS NOT OLD.status OR NEW.disputed_since IS NOT OLD.disputed_since
  OR NEW.closed_on IS NOT OLD.closed_on
BEGIN
    DELETE FROM customer_stats WHERE customer_id IN (OLD.customer_id, NEW.customer_id);
END;

CREATE TRIGGER customer_stats_payment_added AFTER INSERT ON payments
BEGIN
    DELETE FROM customer_stats WHERE customer_id = NEW.customer_id;
END;

CREATE TRIGGER customer_stats_payment_removed AFTER DELETE ON payments
BEGIN
    DELETE FROM customer_stats WHERE customer_id = OLD.customer_id;
END;

CREATE TRIGGER customer_stats_payment_changed
AFTER UPDATE OF customer_id, paid_on ON payments
WHEN NEW.customer_id IS NOT OLD.customer_id OR NEW.paid_on IS NOT OLD.paid_on
BEGIN
    DELETE FROM customer_stats WHERE customer_id IN (OLD.customer_id, NEW.customer_id);
END;

CREATE TRIGGER customer_stats_contact_added AFTER INSERT ON contacts
BEGIN
    DELETE FROM customer_stats WHERE customer_id = NEW.customer_id;
END;

CREATE TRIGGER customer_stats_contact_removed AFTER DELETE ON contacts
BEGIN
    DELETE FROM customer_stats WHERE customer_id = OLD.customer_id;
END;

CREATE TRIGGER customer_stats_contact_changed
AFTER UPDATE OF customer_id, invalid_since ON contacts
WHEN NEW.customer_id IS NOT OLD.customer_id
  OR NEW.invalid_since IS NOT OLD.invalid_since
BEGIN
    DELETE FROM customer_stats WHERE customer_id IN (OLD.customer_id, NEW.customer_id);
END;
