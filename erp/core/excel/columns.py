"""The declarations of a sheet (:class:`Column`, :class:`Spec`) and what reading one returns."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from erp.core.i18n import _, _l, in_every_language

#: Column types. "auto" is for ad-hoc exports: each value is written by its own Python type
#: (and read back as the cell holds it).
COLUMN_TYPES = frozenset({"str", "int", "decimal", "date", "bool", "auto"})

#: A cell whose text starts with one of these may be run as a formula by a spreadsheet
#: (OWASP "CSV injection"); :func:`neutralise` prefixes such text with an apostrophe.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: the error report's column and the template's help sheet (lazy: in the reader's language)
ERRORS_HEADER = _l("Errors")
HELP_SHEET = _l("Help")

_MAX_TEXT = 32_767  # Excel's limit on the characters in one cell
_EXACT_DIGITS = 15  # Excel keeps 15 significant digits of a number
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class Column:
    """One column of a sheet, declared once for its template, import and export.

    :param key: the key in parsed row dicts; in exports, the dict key or attribute to read
        (a dotted path such as ``"supplier.name"`` walks attributes).
    :param header: the header text in the sheet, usually a lazy string (``_l("Weight (g)")``):
        templates and exports are written in the reader's language. On import the header is
        matched case-insensitively in English and in every language erp speaks, and the key is
        accepted too, so a template works whoever downloaded it.
    :param type: one of :data:`COLUMN_TYPES`.
    :param validator: called with the converted, non-empty value; returns it (possibly
        normalised) or raises ``ValueError(message)``.
    :param choices: allowed values, matched case-insensitively and returned as declared.
    :param unique: no two rows of one file may hold the same value (checked by
        :func:`run_import`; text compared case-insensitively).
    """

    key: str
    header: Any
    type: str = "str"
    required: bool = False
    validator: Callable[[Any], Any] | None = None
    help: Any = ""
    width: int = 16
    decimals: int = 2
    choices: tuple[str, ...] | None = None
    unique: bool = False

    def __post_init__(self) -> None:
        """Check the declaration, so a typo fails at import time rather than on upload."""
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"Column {self.key!r}: unknown type {self.type!r}")
        if not self.key or not self.header:
            raise ValueError("A column needs a key and a header")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))


@dataclass(frozen=True)
class Spec:
    """The columns of one importable or exportable sheet."""

    name: str
    title: str
    columns: tuple[Column, ...]
    max_rows: int = 200_000

    def __post_init__(self) -> None:
        """Reject duplicate keys or headers, which would make the header row ambiguous."""
        object.__setattr__(self, "columns", tuple(self.columns))
        owners: dict[str, int] = {}
        for position, column in enumerate(self.columns):
            for name in (_norm(column.key), _norm(column.header)):
                if owners.setdefault(name, position) != position:
                    raise ValueError(f"Spec {self.name!r}: column name {name!r} is used twice")

    def column(self, key: str) -> Column:
        """Return the column with this key.

        :raises KeyError: if the spec has no such column.
        """
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)


@dataclass
class CellError:
    """One problem in an uploaded file.

    ``row`` is the sheet row number as Excel shows it (the header is row 1); 0 means the file as
    a whole. ``column`` is the column header, or "" for an error about the whole row.
    """

    row: int
    column: str
    message: str

    def __post_init__(self) -> None:
        """Keep text (a lazy header or message becomes the reader's language now)."""
        self.column = str(self.column) if self.column is not None else ""
        self.message = str(self.message)

    def __str__(self) -> str:
        """Return the error as a user reads it: ``Row 7, column "Weight (g)": must be ...``."""
        if self.row <= 0:
            return self.message
        if self.column:
            return _('Row %(row)s, column "%(column)s": %(message)s', row=self.row,
                     column=self.column, message=self.message)
        return _("Row %(row)s: %(message)s", row=self.row, message=self.message)


@dataclass
class ParseResult:
    """Rows read from an uploaded file, and every error found in it.

    ``rows`` holds only rows without errors; each dict has every column key (None when empty
    or when the column is absent from the file) plus ``"_row"``, the sheet row number.
    ``present`` lists the keys of the columns the file actually has, so an update can leave
    the fields of absent columns alone.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)
    present: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the file had no errors."""
        return not self.errors


@dataclass
class ImportResult:
    """The outcome of :func:`run_import`: counts when applied, errors otherwise."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[CellError] = field(default_factory=list)
    dry_run: bool = False
    messages: list[str] = field(default_factory=list)
    row_count: int = 0

    @property
    def ok(self) -> bool:
        """Whether the import (or dry run) found no errors."""
        return not self.errors


class RowError(ValueError):
    """Raised by an import's ``apply`` callback to report a problem in one row (or cell)."""

    def __init__(self, message: str, *, row: int = 0, column: str = "") -> None:
        """Keep the sheet row number and column header with the message."""
        super().__init__(str(message))
        self.message = str(message)
        self.row = row
        self.column = str(column) if column else ""


def _sheet_name(title) -> str:
    name = _BAD_SHEET_CHARS.sub(" ", str(title)).strip().strip("'")[:31]
    return name or "Sheet1"


def _norm(text: Any) -> str:
    """Normalise a header for matching: trimmed, spaces collapsed, case-folded, no "*"."""
    if text is None:
        return ""
    if isinstance(text, float) and text.is_integer():
        text = int(text)
    return " ".join(str(text).split()).casefold().rstrip("*").rstrip()


def _header_lookup(spec: Spec) -> dict[str, Column]:
    """Map each way a column may be headed to it: its key, and its header in any language."""
    lookup = {_norm(column.key): column for column in spec.columns}
    for column in spec.columns:  # a header wins over another column's key
        for header in in_every_language(column.header):
            lookup[_norm(header)] = column
    return lookup
