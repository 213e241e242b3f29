-- A promise can be cancelled: the instalments still to come of a payment
-- plan that broke. The plan ended with the instalment missed, so those
-- instalments no longer hold contact back nor wait for a payment; they stay
-- in the store, with the day the plan broke, so the history shows them.
--
-- SQLite cannot change a CHECK constraint, so the table is rebuilt. tasks
-- refer to promises: deferring the foreign keys to the commit lets the rows
-- be dropped and written back with the same ids, which the commit checks.

PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE promises_before_0008 AS SELECT * FROM promises;

DROP TABLE promises;

CREATE TABLE promises (
    id             INTEGER PRIMARY KEY,
    customer_id    INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    made_on        TEXT NOT NULL,
    due_on         TEXT NOT NULL,                  -- the date the customer promised
    currency       TEXT NOT NULL CHECK (length(currency) = 3),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    status         TEXT NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'kept', 'partly_kept', 'broken',
                                     'cancelled')),
    resolved_on    TEXT,
    note           TEXT,
    -- how much of the promise payments have covered so far
    paid           INTEGER NOT NULL DEFAULT 0,
    interaction_id INTEGER REFERENCES interactions(id),
    plan_id        INTEGER REFERENCES payment_plans(id),
    instalment     INTEGER                         -- number in the plan; 0 = down payment
);

INSERT INTO promises (id, customer_id, made_on, due_on, currency, amount, status,
                      resolved_on, note, paid, interaction_id, plan_id, instalment)
SELECT id, customer_id, made_on, due_on, currency, amount, status,
       resolved_on, note, paid, interaction_id, plan_id, instalment
FROM promises_before_0008;

DROP TABLE promises_before_0008;

CREATE INDEX promises_by_customer ON promises (customer_id, status);
CREATE INDEX promises_by_plan ON promises (plan_id);
CREATE INDEX promises_open ON promises (status, due_on) WHERE status = 'open';

-- Plans broken before this version left their later instalments open.
UPDATE promises
SET status = 'cancelled',
    resolved_on = (SELECT pl.resolved_on FROM payment_plans pl
                   WHERE pl.id = promises.plan_id)
WHERE status = 'open'
  AND plan_id IN (SELECT id FROM payment_plans WHERE status = 'broken');
