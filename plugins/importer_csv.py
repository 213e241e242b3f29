"""The ``csv`` importer: invoices with their customers, one row per invoice.

cobra's own layout needs no mapping. Its columns, in any order:

=====================  ========  ===========================================
column                 required  meaning
=====================  ========  ===========================================
``customer_id``        yes       the customer's id in your ERP
``customer_name``      yes       legal or trading name
``email``              no        where written reminders go
``phone``              no        read in the customer's country, stored E.164
``invoice_id``         yes       the invoice number, unique across customers
``issue_date``         yes       ``YYYY-MM-DD`` (or ``--date-format``)
``due_date``           yes       on or after the issue date
``currency``           yes       ISO 4217 code
``amount``             yes       invoice total in major units (``1234.50``)
``balance``            yes       what is still open; 0 for a paid invoice
``tax_id``             no        RUT, NIT, RFC, VAT number...
``language``           no        ``es``, ``en-US``
``country``            no        ISO 3166-1 alpha-2; the company's by default
``timezone``           no        IANA name, such as ``America/Santiago``
``salesperson_email``  no        the account's salesperson
``segment``            no        any label the team uses (``smb``...)
=====================  ========  ===========================================

Any other layout, such as an ERP's aging export, maps through a mapping file
(``--mapping NAME`` for one shipped in ``config/mappings/``, or a path) or
``--map field=column``. Files are read as a stream, one row at a time.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator, Mapping
from itertools import chain
from operator import itemgetter
from pathlib import Path

import cobra
from cobra.errors import CobraInputError
from cobra.importers import ImportContext, Importer, ImportOption
from cobra.layout import FIELDS, REQUIRED, LayoutSettings
from cobra.records import LayoutRows

log = logging.getLogger(__name__)

# Rows handed to the ledger at a time. Small enough that a batch is still in
# the processor's cache when the ledger checks and writes it: 5000 rows (a
# few megabytes of strings) made reading and checking half again slower.
BATCH = 500
DELIMITERS = (",", ";", "\t", "|")
HEADER_SEARCH_ROWS = 30  # report exports put titles above the header row
# A line without quotes is split on the separator, as the csv module would;
# longer ones go to the csv module, which refuses cells over its size limit.
_LONGEST_PLAIN_LINE = csv.field_size_limit()
# The keys a mapping's [options] table may set: the importer's own options.
MAPPING_OPTIONS = ("encoding", "delimiter", "decimal", "thousands", "date_format")


class Mapping_:
    """Which source column feeds each cobra field, and how to read values."""

    def __init__(
        self,
        columns: dict[str, str] | None = None,
        constants: dict | None = None,
        options: dict | None = None,
        skip_when_empty: tuple[str, ...] = (),
        name: str = "cobra layout",
    ):
        self.columns = {f: f for f in FIELDS} if columns is None else dict(columns)
        self.constants = dict(constants or {})
        self.options = dict(options or {})
        self.skip_when_empty = tuple(skip_when_empty)
        self.name = name

    @classmethod
    def load(cls, value: str) -> Mapping_:
        """A mapping file by path, or by the name of one shipped with cobra."""
        from cobra.config import parse_toml

        path = Path(value)
        if path.suffix != ".toml" or not path.exists():
            from importlib.resources import files

            shipped = files("cobra_starter").joinpath("mappings", f"{value}.toml")
            if not shipped.is_file():
                names = sorted(
                    p.name[:-5]
                    for p in files("cobra_starter").joinpath("mappings").iterdir()
                    if p.name.endswith(".toml")
                )
                raise CobraInputError(
                    f"--mapping {value}: no such file, and no shipped mapping of that name "
                    f"(shipped: {', '.join(names)})"
                )
            text, source = shipped.read_text("utf-8"), f"mapping {value}"
        else:
            text, source = path.read_text("utf-8"), str(path)
        data = parse_toml(text, source)
        columns = data.get("columns", {})
        unknown = sorted(set(columns) - set(FIELDS)) + sorted(
            set(data.get("constants", {})) - set(FIELDS)
        )
        unknown += sorted(set(data.get("skip_when_empty", ())) - set(FIELDS))
        if unknown:
            raise CobraInputError(
                f"{source}: unknown cobra field(s) {', '.join(unknown)}; "
                f"fields are {', '.join(FIELDS)}"
            )
        # A misspelt option would otherwise be ignored without a word.
        options = data.get("options", {})
        wrong = sorted(set(options) - set(MAPPING_OPTIONS))
        if wrong:
            raise CobraInputError(
                f"{source}: unknown [options] key(s) {', '.join(wrong)}; "
                f"keys are {', '.join(MAPPING_OPTIONS)}"
            )
        return cls(
            columns,
            data.get("constants"),
            data.get("options"),
            tuple(data.get("skip_when_empty", ())),
            name=source,
        )

    def override(self, pairs: tuple[str, ...]) -> None:
        """Apply ``--map field=column`` on top of the mapping."""
        for pair in pairs:
            field, sep, column = pair.partition("=")
            field = field.strip()
            if not sep or field not in FIELDS or not column.strip():
                raise CobraInputError(
                    f"--map {pair!r}: write FIELD=COLUMN with FIELD one of {', '.join(FIELDS)}"
                )
            self.columns[field] = column.strip()
            self.constants.pop(field, None)


class CsvImporter(Importer):
    name = "csv"
    description = "CSV files: cobra's own layout, or any export through a mapping."
    extensions = (".csv", ".tsv", ".txt")
    options = (
        ImportOption(
            "encoding",
            "Text encoding of CSV files [default: UTF-8, with or "
            "without BOM]; cp1252 or latin-1 for older exports.",
            metavar="NAME",
        ),
        ImportOption(
            "delimiter",
            "CSV field separator [default: sniffed from , ; tab |].",
            metavar="CHAR",
        ),
        ImportOption(
            "decimal", "Decimal separator in CSV amounts [default: .].", metavar="CHAR"
        ),
        ImportOption(
            "thousands",
            "Digit-group separator in CSV amounts, as in 1.234.567,89.",
            metavar="CHAR",
        ),
        ImportOption(
            "date-format",
            "Date format of CSV dates, such as %d/%m/%Y [default: YYYY-MM-DD].",
            metavar="FORMAT",
        ),
        ImportOption(
            "mapping",
            "Column mapping: a TOML file, or a shipped one "
            "(quickbooks-aging, xero-invoices).",
            metavar="FILE|NAME",
        ),
        ImportOption(
            "map",
            "Map one field to a CSV column: FIELD=COLUMN (repeatable).",
            metavar="FIELD=COLUMN",
            multiple=True,
        ),
    )

    def read(
        self, source: str, options: Mapping[str, object], context: ImportContext
    ) -> Iterator[LayoutRows]:
        mapping = (
            Mapping_.load(options["mapping"]) if options.get("mapping") else Mapping_()
        )
        mapping.override(tuple(options.get("map") or ()))
        if "currency" not in mapping.columns and "currency" not in mapping.constants:
            # An export without a currency column (an aging report of a
            # one-currency company) is in the company's currency.
            mapping.constants["currency"] = context.default_currency
        # Command-line options win over a mapping's own settings.
        settings = {**mapping.options, **{k: v for k, v in options.items() if v}}
        encoding = str(settings.get("encoding") or "utf-8-sig")
        try:
            handle = open(source, encoding=encoding, newline="")
        except LookupError:
            raise CobraInputError(f"--encoding {encoding}: unknown encoding") from None
        except OSError as exc:
            raise CobraInputError(f"{source}: cannot read: {exc.strerror}") from None
        with handle:
            try:
                yield from _Reader(source, handle, mapping, settings, context).rows()
            except UnicodeDecodeError as exc:
                shown = "UTF-8" if encoding == "utf-8-sig" else encoding
                raise CobraInputError(
                    f"{source}: not {shown} text (byte {exc.object[exc.start : exc.start + 1]!r}"
                    " cannot be decoded); if the file comes from Excel or an older system, "
                    "try --encoding cp1252 (or --encoding latin-1)"
                ) from None


class _Reader:
    """Reads one file; holds what every row needs so each row does little."""

    def __init__(
        self,
        source: str,
        handle: io.TextIOBase,
        mapping: Mapping_,
        settings: dict,
        context: ImportContext,
    ):
        self.source = source
        self.handle = handle
        self.mapping = mapping
        self.decimal = str(settings.get("decimal") or ".")
        self.thousands = settings.get("thousands") or None
        self.date_format = settings.get("date_format") or None
        self.delimiter = settings.get("delimiter")
        if self.delimiter == "\\t":
            self.delimiter = "\t"
        self.settings = LayoutSettings(
            decimal=self.decimal,
            thousands=self.thousands,
            date_format=self.date_format,
            default_country=context.default_country,
        )
        if self.delimiter and len(str(self.delimiter)) != 1:
            raise CobraInputError(f"--delimiter {self.delimiter!r}: give one character")

    def rows(self) -> Iterator[LayoutRows]:
        head = self.handle.read(65536)
        if not head.strip():
            raise CobraInputError(
                f"{self.source}: the file is empty; expected a header row "
                f"with the columns {', '.join(REQUIRED)}"
            )
        delimiter = self.delimiter or _sniff_delimiter(head)
        if self.handle.seekable():
            self.handle.seek(0)  # the decoder starts again, BOM and all
            lines = iter(self.handle)
        else:
            lines = _rejoin(head, self.handle)
        # csv.reader takes lines from `lines` only as it needs them, so the
        # loop below goes on from the line after the header.
        reader = csv.reader(lines, delimiter=delimiter)
        positions = self._find_header(reader, delimiter)
        width = max(positions.values(), default=-1) + 1
        skip = [positions[f] for f in self.mapping.skip_when_empty if f in positions]

        # Each layout row is picked out of the CSV row by one C-level itemgetter;
        # constants and absent fields come from `extras`, appended to every
        # row and reached by negative indexes so extra columns cannot shift them.
        extras = [str(v) for v in self.mapping.constants.values()] + [""]
        constant_index = {
            name: i - len(extras) for i, name in enumerate(self.mapping.constants)
        }
        order = [
            constant_index[name] if name in constant_index else positions.get(name, -1)
            for name in FIELDS
        ]
        pick = itemgetter(*order)
        # cobra's own layout, every column in its place: a row is the cells
        # as split, with nothing to pick.
        as_is = order == list(range(len(FIELDS))) and not skip

        rows: list = []
        numbers: list[int] = []
        line = reader.line_num
        for text in lines:
            line += 1
            start = line
            if '"' in text or len(text) > _LONGEST_PLAIN_LINE:
                # Quoted cells may hold separators and line breaks: the csv
                # module reads this record, taking more lines if it needs them.
                record = csv.reader(chain((text,), lines), delimiter=delimiter)
                row = next(record)
                line += record.line_num - 1
            else:
                row = text.rstrip("\r\n").split(delimiter)
            if len(row) < width or not row[0] or row[0].isspace():
                if not any(cell.strip() for cell in row):
                    # Blank lines, and lines of separators only (",,,,"),
                    # which spreadsheets write for emptied rows.
                    continue
                if len(row) < width:
                    row += [""] * (width - len(row))
            if as_is and len(row) == width:
                rows.append(row)
            else:
                if skip and not all(row[i].strip() for i in skip):
                    continue  # a report's group header or subtotal line
                rows.append(pick(row + extras))
            numbers.append(start)
            if len(rows) >= BATCH:
                yield LayoutRows(self.source, self.settings, rows, numbers)
                rows, numbers = [], []
        if rows:
            yield LayoutRows(self.source, self.settings, rows, numbers)

    def _find_header(self, reader, delimiter: str) -> dict[str, int]:
        wanted = {
            f: self.mapping.columns[f] for f in FIELDS if f in self.mapping.columns
        }
        needed = [f for f in REQUIRED if f not in self.mapping.constants]
        first = None
        for _ in range(HEADER_SEARCH_ROWS):
            try:
                header = next(reader)
            except StopIteration:
                break
            names = [cell.strip() for cell in header]
            if first is None and any(names):
                first = names
            index = {name: i for i, name in enumerate(names) if name}
            positions = {f: index[col] for f, col in wanted.items() if col in index}
            if all(f in positions for f in needed):
                return positions
            if not self.mapping.skip_when_empty:
                break  # only report exports have title rows above the header
        found = first or []
        missing = [
            f"{f} (column {wanted.get(f, f)!r})" if wanted.get(f, f) != f else f
            for f in needed
            if wanted.get(f, f) not in found
        ]
        hint = ""
        if len(found) == 1 and delimiter != ",":
            hint = "; is the separator right? try --delimiter"
        elif len(found) == 1:
            hint = "; the separator may not be a comma: try --delimiter ';'"
        raise CobraInputError(
            f"{self.source}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (read with the {self.mapping.name}; found: "
            f"{', '.join(found) or 'nothing'}){hint}"
        )


def _rejoin(head: str, rest: io.TextIOBase) -> Iterator[str]:
    """The lines of the sniffed head of a file, then the rest, as one stream."""
    lines = list(io.StringIO(head, newline=""))
    partial = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
    yield from lines
    for line in rest:
        if partial:
            line, partial = partial + line, ""
        yield line
    if partial:
        yield partial


def _sniff_delimiter(head: str) -> str:
    """The separator that splits the first lines into the most fields.

    Several lines, not just the first: report exports open with a title line
    that holds no separator at all.
    """
    lines = [line for line in head.splitlines()[:10] if line.strip()]
    counts = {d: max((line.count(d) for line in lines), default=0) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


@cobra.hookimpl
def register_importers(register):
    register(CsvImporter())
