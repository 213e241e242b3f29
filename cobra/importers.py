"""What an importer is, and how `cobra import` picks one for a source.

An importer plugin registers objects of a subclass of :class:`Importer`
through the ``register_importers`` hook. cobra asks each importer whether it
recognises a source (by file extension, by URL scheme, or by its own
``recognizes``), offers the options importers declare on the ``cobra
import`` command line, and reads the records the chosen one yields.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cobra.errors import CobraInputError
from cobra.records import Record


@dataclass(frozen=True)
class ImportOption:
    """A command-line option an importer accepts, such as ``--encoding``.

    ``name`` is the option without dashes (``date-format``); the importer
    receives it with underscores (``date_format``). ``multiple`` options may
    be repeated and arrive as a tuple.
    """

    name: str
    help: str
    metavar: str = "TEXT"
    multiple: bool = False
    default: object = None

    @property
    def key(self) -> str:
        return self.name.replace("-", "_")


@dataclass
class ImportContext:
    """What an importer may need besides the source and its options."""

    default_currency: str = "USD"
    default_country: str | None = None
    config: object = None  # cobra.config.Config, for secrets and settings
    extra: dict = field(default_factory=dict)


class Importer:
    """Base class for importers: set the attributes, implement :meth:`read`."""

    name: str = ""
    description: str = ""
    extensions: tuple[str, ...] = ()  # ".csv", ".xml"
    schemes: tuple[str, ...] = ()  # "tryton" for tryton://...
    options: tuple[ImportOption, ...] = ()
    reads_folders: bool = False  # True: a folder is read file by file

    def recognizes(self, source: str) -> bool:
        scheme = source.split("://", 1)[0].lower() if "://" in source else None
        if scheme is not None:
            return scheme in self.schemes
        path = Path(source)
        if path.is_dir():
            return self.reads_folders and any(
                p.suffix.lower() in self.extensions for p in path.iterdir()
            )
        return path.suffix.lower() in self.extensions

    def read(
        self, source: str, options: Mapping[str, object], context: ImportContext
    ) -> Iterator[Record]:
        """Yield the records of *source* in order, and a Rejected for each bad one.

        A source that cannot be read at all (a missing file, a server that
        does not answer) raises a :class:`cobra.errors.CobraError` instead.
        Memory must stay bounded whatever the size of the source.
        """
        raise NotImplementedError


def unknown_option(
    importer: Importer, keys: Iterable[str]
) -> tuple[str, str | None] | None:
    """The first of *keys* (option keys, ``date_format``) that *importer* does
    not declare, with the declared key closest to it for a did-you-mean; None
    when it declares them all.

    `cobra import` refuses such an option and `cobra run` such a
    ``[[sources]]`` option, rather than reading the source without it.
    """
    declared = [option.key for option in importer.options]
    for key in keys:
        if key not in declared:
            closest = difflib.get_close_matches(key, declared, n=1)
            return key, closest[0] if closest else None
    return None


def choose(
    source: str, importers: Mapping[str, Importer], using: str | None
) -> Importer:
    """The importer named by ``--using``, or the one that recognises *source*."""
    if using:
        if using not in importers:
            raise CobraInputError(
                f"no importer named {using!r}; installed: {', '.join(sorted(importers))}"
            )
        return importers[using]
    candidates = [imp for imp in importers.values() if imp.recognizes(source)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        if "://" not in source and not Path(source).exists():
            raise CobraInputError(f"{source}: no such file or folder")
        raise CobraInputError(
            f"{source}: no importer recognises this source; name one with --using "
            f"({', '.join(sorted(importers))})"
        )
    names = ", ".join(sorted(imp.name for imp in candidates))
    raise CobraInputError(
        f"{source}: several importers recognise it ({names}); choose with --using"
    )
