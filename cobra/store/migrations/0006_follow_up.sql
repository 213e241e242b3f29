-- Following up: what a collector logs (`cobra log`), the invoices it names,
-- payment plans as sequences of promises, and tasks linked to what raised
-- them.

-- The collector's log of one contact; reason is the collector's finding
-- (also stored in findings), follow_up_on the date a task was asked for.
-- source/source_key: the file and line `cobra log --from` read it from, and
-- a key that makes reading the same file twice add nothing.
ALTER TABLE interactions ADD COLUMN reason TEXT;
ALTER TABLE interactions ADD COLUMN follow_up_on TEXT;
ALTER TABLE interactions ADD COLUMN source TEXT;
ALTER TABLE interactions ADD COLUMN source_key TEXT;
CREATE UNIQUE INDEX interactions_by_source_key ON interactions (source_key)
    WHERE source_key IS NOT NULL;

-- The invoices an interaction is about (a dispute, a promise for some).
CREATE TABLE interaction_invoices (
    interaction_id INTEGER NOT NULL REFERENCES interactions(id) ON DELETE CASCADE,
    invoice_id     INTEGER NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    PRIMARY KEY (interaction_id, invoice_id)
);

-- A payment plan the customer agreed to: its instalments are promises
-- (promises.plan_id), checked against payments like any promise.
CREATE TABLE payment_plans (
    id             INTEGER PRIMARY KEY,
    customer_id    INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    agreed_on      TEXT NOT NULL,
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    total          INTEGER NOT NULL CHECK (total > 0),
    option         TEXT,                        -- the `cobra offer` option, if chosen there
    status         TEXT NOT NULL DEFAULT 'active'
                   CHECK (status IN ('active', 'completed', 'broken')),
    resolved_on    TEXT,
    interaction_id INTEGER REFERENCES interactions(id) ON DELETE SET NULL
);
CREATE INDEX payment_plans_by_customer ON payment_plans (customer_id, status);

-- paid: how much of the promise payments have covered so far (what is still
-- owed after a partly kept promise is amount - paid).
ALTER TABLE promises ADD COLUMN paid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE promises ADD COLUMN interaction_id INTEGER REFERENCES interactions(id);
ALTER TABLE promises ADD COLUMN plan_id INTEGER REFERENCES payment_plans(id);
ALTER TABLE promises ADD COLUMN instalment INTEGER;  -- number in the plan; 0 = down payment
CREATE INDEX promises_by_plan ON promises (plan_id);
CREATE INDEX promises_open ON promises (status, due_on) WHERE status = 'open';

ALTER TABLE tasks ADD COLUMN promise_id INTEGER REFERENCES promises(id);
ALTER TABLE tasks ADD COLUMN interaction_id INTEGER REFERENCES interactions(id);
