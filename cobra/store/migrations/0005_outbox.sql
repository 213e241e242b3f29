-- The outbox: the planned contacts become messages with a sending state.
--
-- Every contact `cobra plan` decides is stored here before anything is sent,
-- under its idempotency key (customer, strategy step, date, channel).
-- States:
--   queued     waiting for `cobra send` (from send_at, and next_attempt_at
--              after a transient error)
--   sending    claimed by one `cobra send` process (claimed_by, claimed_at)
--   sent       the provider accepted it (provider_id)
--   delivered  the provider reported delivery
--   failed     permanently refused, or out of attempts (error)
--   held       not to be sent: a rule, an opt-out, no address (hold_reason)
--   unknown    found in `sending` after a crash, and the backend cannot tell
--              whether the provider got it: a person checks, and
--              `cobra send --retry-unknown` resends on request
--   cancelled  no longer needed when its time came (the customer paid)
--
-- planned_contacts (0004) is rebuilt under the new name, since SQLite cannot
-- change a CHECK constraint in place.

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    customer_id     INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    planned_for     TEXT NOT NULL,
    send_at         TEXT,                         -- aware instant the rules allow
    strategy        TEXT NOT NULL,
    step            INTEGER NOT NULL,
    cycle           TEXT NOT NULL,
    variant         INTEGER NOT NULL DEFAULT 0,
    channel         TEXT NOT NULL,
    template        TEXT NOT NULL,
    tone            TEXT,
    method          TEXT,
    tactic          TEXT,
    objective       TEXT,
    reason          TEXT,
    language        TEXT,
    subject         TEXT,
    body            TEXT,
    opt_out         INTEGER NOT NULL DEFAULT 0,   -- an opt-out notice is required
    state           TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'failed',
                                     'held', 'unknown', 'cancelled')),
    hold_reason     TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    backend         TEXT,                         -- the backend that sent it
    address         TEXT,                         -- where it went
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    claimed_by      TEXT,
    claimed_at      TEXT,
    provider_id     TEXT,
    error           TEXT,
    sent_at         TEXT,
    delivered_at    TEXT,
    UNIQUE (customer_id, channel, planned_for)
);

INSERT INTO outbox (id, customer_id, planned_for, send_at, strategy, step, cycle, variant,
                    channel, template, tone, method, tactic, objective, reason, language,
                    subject, body, state, hold_reason, idempotency_key, created_at)
SELECT id, customer_id, planned_for, send_at, strategy, step, cycle, variant,
       channel, template, tone, method, tactic, objective, reason, language,
       subject, body, CASE state WHEN 'planned' THEN 'queued' ELSE state END,
       hold_reason, idempotency_key, created_at
FROM planned_contacts;

DROP TABLE planned_contacts;

CREATE INDEX outbox_by_customer ON outbox (customer_id, strategy, cycle, step);
CREATE INDEX outbox_by_date ON outbox (planned_for, state);
CREATE INDEX outbox_by_provider_id ON outbox (provider_id);
-- What `cobra send` claims next: queued messages of a channel in plan
-- order (the plan stores them in worklist order, most urgent first).
CREATE INDEX outbox_queued ON outbox (channel, id) WHERE state = 'queued';
CREATE INDEX outbox_sending ON outbox (state) WHERE state = 'sending';

-- What happened to each message, in order: attempts, errors, receipts.
CREATE TABLE outbox_events (
    id        INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    at        TEXT NOT NULL,
    state     TEXT NOT NULL,
    detail    TEXT
);
CREATE INDEX outbox_events_by_message ON outbox_events (outbox_id, at);

-- Work for a person: calls to make, briefs for a third party, and (later)
-- promises to check and follow-ups. source_key makes creating a task from
-- an outbox message idempotent.
CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER REFERENCES customers(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    due_on      TEXT NOT NULL,
    title       TEXT NOT NULL,
    brief       TEXT,
    assignee    TEXT,
    state       TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done')),
    source_key  TEXT UNIQUE,
    created_at  TEXT NOT NULL,
    done_at     TEXT,
    note        TEXT
);
CREATE INDEX tasks_due ON tasks (state, due_on);

-- Messages from customers: replies to what cobra sent, and opt-out requests.
CREATE TABLE inbound (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER REFERENCES customers(id) ON DELETE SET NULL,
    channel      TEXT NOT NULL,
    sender       TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    text         TEXT NOT NULL,
    outbox_id    INTEGER REFERENCES outbox(id) ON DELETE SET NULL,
    opt_out      INTEGER NOT NULL DEFAULT 0,
    provider_id  TEXT UNIQUE                     -- a repeated report is stored once
);
CREATE INDEX inbound_by_customer ON inbound (customer_id, received_at);
