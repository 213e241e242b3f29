-- The invoices a customer message asks the customer to pay, as it was
-- written: a JSON array of invoice numbers (NULL for a brief, a task, or a
-- message written before this version). The sender reads it to cancel a
-- message that asks for an invoice disputed since it was written: a
-- disputed invoice gets no automated contact.
ALTER TABLE outbox ADD COLUMN invoices TEXT;
