-- cobra show lists one customer's tasks; without an index that read scans
-- every task of every customer, which grows with each day of calls,
-- promises and follow-ups.

CREATE INDEX tasks_by_customer ON tasks (customer_id, id);
