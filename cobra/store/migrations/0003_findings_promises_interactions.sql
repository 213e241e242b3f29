-- What collectors learn and agree, as far as diagnosis and prioritizing need
-- it: a collector's own finding of why a customer does not pay (it overrides
-- the diagnosis rules until superseded), promises to pay and whether they
-- were kept, and each interaction with the customer.

CREATE TABLE findings (
    id            INTEGER PRIMARY KEY,
    customer_id   INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    reason        TEXT NOT NULL
                  CHECK (reason IN ('forgot', 'cannot_pay', 'dissatisfied', 'unaware',
                                    'fraud', 'unknown')),
    noted_at      TEXT NOT NULL,
    collector     TEXT,
    note          TEXT,
    superseded_at TEXT                             -- set when a newer finding replaces it
);
CREATE INDEX findings_by_customer ON findings (customer_id, superseded_at);

CREATE TABLE promises (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    made_on     TEXT NOT NULL,
    due_on      TEXT NOT NULL,                     -- the date the customer promised
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    status      TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'kept', 'partly_kept', 'broken')),
    resolved_on TEXT,
    note        TEXT
);
CREATE INDEX promises_by_customer ON promises (customer_id, status);

CREATE TABLE interactions (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,                     -- aware instant, ISO 8601
    channel     TEXT,
    outcome     TEXT NOT NULL,
    collector   TEXT,
    note        TEXT
);
CREATE INDEX interactions_by_customer ON interactions (customer_id, at);
