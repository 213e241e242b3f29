"""Loading imported records into the store, all or nothing.

:func:`load` takes the record stream of one ``cobra import`` (any number of
sources, any importer) and writes it in one transaction: customers and
invoices are upserted in batches, payments and credit notes are allocated to
invoices, ``--sync`` closes what the sources no longer list. Invalid records
are collected; unless the caller allows skipping them, a single one rolls
the whole import back, so a bad file never leaves half its rows behind.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from cobra.errors import CobraInputError
from cobra.layout import LayoutChecker
from cobra.records import (
    CreditNote,
    Customer,
    Invoice,
    LayoutRows,
    Payment,
    Rejected,
)

log = logging.getLogger(__name__)

BATCH = 5000  # rows per executemany: large enough to amortise, small in memory
GC_THRESHOLD = 100_000  # allocations between runs of the cycle collector
SHOWN_REJECTS = 20


class ImportRejected(CobraInputError):
    """The sources hold invalid records, so nothing was imported."""


class SyncRefused(CobraInputError):
    """--sync would close too large a share of the open invoices."""


@dataclass
class ImportResult:
    """What an import did (or, with --dry-run, would have done)."""

    import_id: int | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rejected: int = 0
    shown_rejects: list[Rejected] = field(default_factory=list)
    closed_by_sync: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {
            "import_id": self.import_id,
            "dry_run": self.dry_run,
            **self.counts,
            "rejected": self.rejected,
            "closed_by_sync": self.closed_by_sync,
        }


@dataclass
class LoadOptions:
    sync: bool = False
    force: bool = False
    dry_run: bool = False
    skip_invalid: bool = False
    sync_max_close_share: float = 0.5


class _Loader:
    """The state of one load; :func:`load` is its only user."""

    def __init__(
        self, writer, options: LoadOptions, on_reject: Callable[[Rejected], None]
    ):
        self.writer = writer
        self.options = options
        self.on_reject = on_reject
        self.result = ImportResult(import_id=writer.run, dry_run=options.dry_run)
        self.customers = writer.customers
        self.pending_invoices: list[tuple] = []
        # One checker per way of writing cells, so each keeps its caches.
        self.checkers: dict[object, LayoutChecker] = {}
        self.payments = {"inserted": 0, "unchanged": 0}
        self.credit_notes = {"inserted": 0, "unchanged": 0}
        self.writing = True  # false once a reject means nothing will be kept

    def reject(self, rejected: Rejected) -> None:
        self.result.rejected += 1
        if len(self.result.shown_rejects) < SHOWN_REJECTS:
            self.result.shown_rejects.append(rejected)
        self.on_reject(rejected)
        if not self.options.skip_invalid:
            # Everything will be rolled back: keep reading to report every
            # bad row, but stop paying for writes.
            self.writing = False

    def customer(self, record: Customer) -> None:
        self.customers.register(record)
        if len(self.customers.inserts) + len(self.customers.updates) >= BATCH:
            self.flush()

    def invoice(self, record: Invoice) -> None:
        customer_id = self.customers.id_of(record.account)
        if customer_id is None:
            self.reject(
                Rejected(
                    record.where,
                    "customer_id",
                    f"unknown customer {record.account!r}: "
                    "import the customer before its invoices",
                )
            )
            return
        self.pending_invoices.append(
            (
                customer_id,
                record.number,
                record.issue_date.isoformat(),
                record.due_date.isoformat(),
                record.currency,
                record.amount,
                record.balance,
                str(record.where),
            )
        )
        if len(self.pending_invoices) >= BATCH:
            self.flush()

    def layout_rows(self, batch: LayoutRows) -> None:
        """Check a batch of rows in cobra's layout and write the valid ones."""
        checker = self.checkers.get(batch.settings)
        if checker is None:
            checker = LayoutChecker(batch.settings, self.customers.register)
            self.checkers[batch.settings] = checker
        rows = checker.check(batch.source, batch.rows, batch.lines, self.reject)
        # Invoices refer to their customers: those go first.
        self.flush()
        if self.writing and rows:
            self.writer.upsert_layout_invoices(batch.source, rows)

    def flush(self) -> None:
        self.customers.flush(write=self.writing)
        if self.writing and self.pending_invoices:
            self.writer.upsert_invoices(self.pending_invoices)
        self.pending_invoices.clear()

    def payment(self, record: Payment) -> None:
        self.flush()  # its invoices may still be in the batch
        if not self.writing:
            return
        customer_id = self._customer_id(record)
        if customer_id is None:
            return
        existing = self.writer.existing_payment(record.reference)
        if existing is not None:
            self._compare(existing, record, record.paid_on, "payment", self.payments)
            return
        targets = self._targets(record, customer_id)
        if targets is None:
            return
        payment_id = self.writer.insert_payment(record, customer_id)
        self._spread(record.amount, targets, record.paid_on, payment_id=payment_id)
        self.payments["inserted"] += 1

    def credit_note(self, record: CreditNote) -> None:
        self.flush()
        if not self.writing:
            return
        customer_id = self._customer_id(record)
        if customer_id is None:
            return
        existing = self.writer.existing_credit_note(record.number)
        if existing is not None:
            self._compare(
                existing, record, record.issue_date, "credit note", self.credit_notes
            )
            return
        numbers = (record.invoice_number,) if record.invoice_number else ()
        targets = self._targets(record, customer_id, numbers)
        if targets is None:
            return
        invoice_id = targets[0][0] if record.invoice_number else None
        note_id = self.writer.insert_credit_note(record, customer_id, invoice_id)
        self._spread(record.amount, targets, record.issue_date, credit_note_id=note_id)
        self.credit_notes["inserted"] += 1

    def _customer_id(self, record) -> int | None:
        customer_id = self.writer.customer_id(record.account)
        if customer_id is None:
            self.reject(
                Rejected(
                    record.where, "customer_id", f"unknown customer {record.account!r}"
                )
            )
        return customer_id

    def _compare(self, existing, record, day, what: str, counts: dict) -> None:
        """A record imported before: unchanged, or an error if it differs."""
        same = (existing["currency"], existing["amount"], existing["account"]) == (
            record.currency,
            record.amount,
            record.account,
        ) and existing[0] == day.isoformat()
        if same:
            counts["unchanged"] += 1
        else:
            number = getattr(record, "reference", None) or record.number
            self.reject(
                Rejected(
                    record.where,
                    "amount",
                    f"{what} {number} was imported before with other values; "
                    "a recorded "
                    f"{what} is never changed by an import",
                )
            )

    def _targets(
        self, record, customer_id: int, numbers: tuple[str, ...] | None = None
    ):
        """The invoices to settle, in order: the named ones, else oldest first."""
        numbers = record.invoice_numbers if numbers is None else numbers
        if not numbers:
            return [
                (row["id"], row["balance"])
                for row in self.writer.open_invoices(customer_id, record.currency)
            ]
        targets = []
        for number in numbers:
            row = self.writer.invoice(number)
            if row is None or row["account"] != record.account:
                self.reject(
                    Rejected(
                        record.where,
                        "invoice_id",
                        f"invoice {number!r} is not an invoice of customer "
                        f"{record.account!r}",
                    )
                )
                return None
            if row["currency"] != record.currency:
                self.reject(
                    Rejected(
                        record.where,
                        "currency",
                        f"{record.currency} does not match invoice {number}'s "
                        f"currency {row['currency']}",
                    )
                )
                return None
            targets.append((row["id"], row["balance"]))
        return targets

    def _spread(self, amount: int, targets, on, **source) -> None:
        """Settle invoices in order; what is left stays as customer credit."""
        for invoice_id, balance in targets:
            if amount <= 0:
                break
            share = min(amount, balance)
            if share > 0:
                self.writer.allocate(invoice_id, share, on.isoformat(), **source)
                amount -= share


def load(
    store,
    records: Iterable,
    sources: list[str],
    options: LoadOptions,
    on_reject: Callable[[Rejected], None] = lambda rejected: None,
    progress: Callable[..., None] | None = None,
) -> ImportResult:
    """Write *records* into *store* in one transaction; see the module doc.

    *progress*, when given, is called now and then with the records read so
    far, and once with ``reading=False`` when all are read and what is left
    is writing them.
    """
    from cobra.store.ledger import begin_bulk_load, end_bulk_load

    conn = store.conn
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    # A million rows make tens of millions of short-lived lists and tuples,
    # freed by their reference counts; the cycle collector, run every 700
    # of them by default, would walk the young ones again and again.
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], GC_THRESHOLD), *thresholds[1:])
    bulk = begin_bulk_load(conn)
    try:
        return _load(conn, records, sources, options, on_reject, progress, now)
    finally:
        gc.set_threshold(*thresholds)
        if bulk:
            end_bulk_load(conn)


def _load(conn, records, sources, options, on_reject, progress, now) -> ImportResult:
    from cobra.store.ledger import LedgerWriter

    conn.execute("BEGIN IMMEDIATE")
    writer = None
    try:
        writer = LedgerWriter(conn, now, sources, options.sync)
        open_before = writer.open_invoice_count() if options.sync else 0
        loader = _Loader(writer, options, on_reject)
        handlers = {
            Customer: loader.customer,
            Invoice: loader.invoice,
            Payment: loader.payment,
            CreditNote: loader.credit_note,
            Rejected: loader.reject,
            LayoutRows: loader.layout_rows,
        }
        seen = 0
        last_report = time.monotonic()
        for record in records:
            handlers[type(record)](record)
            # A batch of layout rows counts as the rows it carries.
            seen += len(record.rows) if type(record) is LayoutRows else 1
            if progress and time.monotonic() - last_report > 0.5:
                progress(seen)
                last_report = time.monotonic()
        if progress:
            progress(seen, reading=False)  # what is left: writing and statistics
        loader.flush()

        for number, first, again in writer.repeated_invoices():
            loader.reject(
                Rejected(
                    again,
                    "invoice_id",
                    f"invoice {number} appears again with other values "
                    f"(first at {first})",
                )
            )
        result = loader.result
        if result.rejected and not options.skip_invalid:
            raise ImportRejected(_rejects_message(result, sources))

        writer.settle_statuses()
        result.counts = {
            "customers": writer.customers.counts(),
            "invoices": writer.invoice_counts(),
            "payments": loader.payments,
            "credit_notes": loader.credit_notes,
        }
        if options.sync:
            result.closed_by_sync = _sync(writer, open_before, options)
        writer.finish(result.as_dict())
        # Prioritize speed (issue 4): the per-customer statistics of the
        # customers this import changed, computed again in its transaction.
        from cobra.store.evidence import refresh_customer_stats

        refresh_customer_stats(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        if writer is not None:
            writer.end()
    conn.execute("ROLLBACK" if options.dry_run else "COMMIT")
    if options.dry_run:
        result.import_id = None
    return result


def _sync(writer, open_before: int, options: LoadOptions) -> int:
    to_close = writer.open_not_seen()
    if to_close and open_before and not options.force:
        share = to_close / open_before
        if share > options.sync_max_close_share:
            raise SyncRefused(
                f"--sync would close {to_close} of {open_before} open invoices "
                f"({share:.0%}, more than the {options.sync_max_close_share:.0%} allowed); "
                "if the source really is the complete open ledger, repeat with --force. "
                "Nothing was imported."
            )
    return writer.close_not_seen() if to_close else 0


def _rejects_message(result: ImportResult, sources: list[str]) -> str:
    lines = [str(r) for r in result.shown_rejects]
    more = result.rejected - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    plural = "s" if result.rejected != 1 else ""
    head = f"{result.rejected} invalid record{plural}; nothing was imported"
    tail = "Fix them, or import the valid rows with --skip-invalid (rejects go to a CSV file)."
    return "\n".join([head, *lines, tail])
