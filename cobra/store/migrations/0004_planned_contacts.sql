-- Contacts decided by `cobra plan`: what to say to whom, through which
-- channel, when, and why; and those the plan held back, with the reason.
--
-- The idempotency key (customer, strategy step, date, channel) makes
-- planning the same day twice add nothing; a later issue's outbox sends
-- from here. A customer gets at most one contact per channel per day.

CREATE TABLE planned_contacts (
    id              INTEGER PRIMARY KEY,
    customer_id     INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    planned_for     TEXT NOT NULL,                -- the date planned
    send_at         TEXT,                         -- aware instant the rules allow
    strategy        TEXT NOT NULL,
    step            INTEGER NOT NULL,             -- index in the strategy's steps
    cycle           TEXT NOT NULL,                -- due date the cadence counts from
    variant         INTEGER NOT NULL DEFAULT 0,
    channel         TEXT NOT NULL,
    template        TEXT NOT NULL,
    tone            TEXT,
    method          TEXT,
    tactic          TEXT,
    objective       TEXT,
    reason          TEXT,                         -- the diagnosis when planned
    language        TEXT,
    subject         TEXT,
    body            TEXT,
    state           TEXT NOT NULL DEFAULT 'planned'
                    CHECK (state IN ('planned', 'held', 'queued', 'sending', 'sent',
                                     'delivered', 'failed', 'cancelled')),
    hold_reason     TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    UNIQUE (customer_id, channel, planned_for)
);
CREATE INDEX planned_by_customer ON planned_contacts (customer_id, strategy, cycle, step);
CREATE INDEX planned_by_date ON planned_contacts (planned_for, state);
