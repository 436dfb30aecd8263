"""PDF helpers on reportlab: A4 pages with the company header, text, tables, Code 128 barcodes.

Domain ``documents.py`` modules build their documents from these pieces and return bytes; nothing
here touches the database or the request (the active Flask-Babel locale decides the language
of the few words printed here: "Page", "Printed", "continued").

Every piece of text goes through :mod:`erp.core.fonts`, so Chinese, Japanese, Cyrillic or Arabic
prints in a font that has it, and is laid out with the same metrics the text is drawn with:

- :class:`Text` wraps at spaces (or between Chinese characters), never inside a word or a code
  such as ``KB-BAG-COR-8``: a word wider than its room shrinks the text, down to 6 pt;
- :func:`data_table` widens a column whose longest word does not fit, taking the room from the
  columns that have some to spare, and shrinks the table's text only when that is not enough;
- :func:`a4_document` prints the document's title once on its first page and, on a page without
  a title, the title of the section it continues.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from reportlab.graphics.barcode import code128
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    PageTemplate,
    Spacer,
    Table,
    TableStyle,
)

from erp.core import fonts

LABEL_100x150 = (100 * mm, 150 * mm)
MIN_SIZE = fonts.MIN_SIZE
GRID = colors.HexColor("#8a8f98")
HEADER_FILL = colors.HexColor("#e8ebf0")
A4_MARGIN = 15 * mm
A4_INNER_WIDTH = A4[0] - 2 * A4_MARGIN

Segment = tuple[str, bool]  # (text, bold)


def text(value) -> str:
    """Escape a value for a reportlab Paragraph (which parses a small XML dialect)."""
    return (str(value if value is not None else "").replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def in_english(function):
    """Run a document builder in English (labels, customs papers: they go abroad).

    Money and numbers are formatted the English way too, whatever the reader's language.
    """
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from flask_babel import force_locale
        with force_locale("en"):
            return function(*args, **kwargs)
    return wrapper


def in_language(language: str | None, function, *args, **kwargs):
    """Return ``function(*args, **kwargs)`` run in ``language`` (a supplier's, say)."""
    from flask_babel import force_locale
    with force_locale(language or "en"):
        return function(*args, **kwargs)


@dataclass(frozen=True)
class Company:
    """The buyer printed on documents sent out (purchase and production orders, returns)."""

    name: str
    address: str
    country: str | None = None

    @classmethod
    def from_settings(cls) -> Company:
        """Return the company as the settings describe it."""
        from erp.core import settings as core_settings
        return cls(name=core_settings.get("company_name"),
                   address=core_settings.get("company_address"),
                   country=core_settings.get("company_country"))


class BilingualWords:
    """Captions in the reader's language, followed by the English for a bilingual document.

    A supplier or maker reading Chinese gets ``采购单 Purchase order``, so the document also
    reads for the buyer's own staff; otherwise the caption alone.
    """

    def __init__(self, bilingual: bool):
        self.bilingual = bilingual

    def __call__(self, message, separator: str = " ") -> str:
        """Return the caption, with its English after ``separator`` when bilingual."""
        from flask_babel import force_locale
        local = str(message)
        if not self.bilingual:
            return local
        with force_locale("en"):
            english = str(message)
        return local if local == english else f"{local}{separator}{english}"


def _segments(value) -> list[Segment]:
    if value is None:
        return [("", False)]
    if isinstance(value, (list, tuple)):
        return [(str(part), bool(bold)) for part, bold in value]
    return [(str(value), False)]


def _units(segments: Sequence[Segment], bold_all: bool) -> list[list]:
    """Return the paragraphs of ``segments`` as lists of units ``(parts, space_before)``.

    A unit is what a line cannot break: one word (a code, a number), or one Chinese character
    with its punctuation; ``parts`` are ``(text, bold)`` pieces (a word may change weight).
    """
    paragraphs: list[list] = [[]]
    spaced = False  # the previous segment ended with a space
    for content, bold in segments:
        bold = bold or bold_all
        for index, paragraph in enumerate(content.split("\n")):
            if index:
                paragraphs.append([])
                spaced = False
            units = paragraphs[-1]
            for n, (piece, space) in enumerate(fonts.tokens(paragraph)):
                space = space or (n == 0 and spaced)
                glue = (n == 0 and not space and units and not paragraph.startswith(" ")
                        and not fonts.tokens(units[-1][0][-1][0] + piece[:1])[1:])
                if glue:  # "RMA-1" then "." in another weight: one unit
                    units[-1][0].append((piece, bold))
                else:
                    units.append(([(piece, bold)], space or (n == 0 and paragraph[:1] == " ")))
        if content:
            spaced = content.endswith(" ") or (spaced and not content.strip())
    return paragraphs


def _unit_width(parts, size: float) -> float:
    return sum(fonts.string_width(part, size, bold=bold) for part, bold in parts)


class Text(Flowable):
    """Text that wraps at spaces (never inside a word or code), in the fonts that cover it.

    ``value`` is a string or a list of ``(text, bold)`` segments; a line break starts a new line.
    When its longest word is wider than the room, the text shrinks (not under ``min_size``);
    only a word wider than the room at ``min_size`` is broken.
    """

    def __init__(self, value, size: float = 9.0, *, bold: bool = False,
                 leading: float | None = None, align: str = "left",
                 min_size: float = MIN_SIZE, space_before: float = 0, space_after: float = 0,
                 color=None):
        super().__init__()
        self.segments = _segments(value)
        self.size = float(size)
        self.bold = bold
        self.leading_factor = (leading / size) if leading else 1.22
        self.align = align
        self.min_size = min_size
        self.spaceBefore = space_before
        self.spaceAfter = space_after
        self.color = color
        self._paragraphs = _units(self.segments, bold)
        self._lines: list[list] = []
        self._used = self.size
        self.width = self.height = 0

    @property
    def plain(self) -> str:
        """Return the text without its weights."""
        return "".join(part for part, _bold in self.segments)

    def min_width(self, size: float | None = None) -> float:
        """Return the width of the widest unbreakable unit at ``size``."""
        size = self.size if size is None else size
        return max((_unit_width(parts, size) for units in self._paragraphs
                    for parts, _space in units), default=0.0)

    def natural_width(self, size: float | None = None) -> float:
        """Return the width of the longest paragraph on one line."""
        size = self.size if size is None else size
        widest = 0.0
        for units in self._paragraphs:
            width = sum(_unit_width(parts, size)
                        + (fonts.string_width(" ", size) if space and n else 0)
                        for n, (parts, space) in enumerate(units))
            widest = max(widest, width)
        return widest

    def set_size(self, size: float) -> None:
        """Change the size the text is drawn at (tables fit their columns with it)."""
        self.size = float(size)

    def _layout(self, width: float) -> None:
        size = self.size
        widest = self.min_width(size)
        if widest > width > 0:
            size = max(self.min_size, int(size * width / widest * 10) / 10)
        lines: list[list] = []
        space_width = fonts.string_width(" ", size)
        for units in self._paragraphs:
            line: list = []
            line_width = 0.0
            for parts, space in units:
                unit_width = _unit_width(parts, size)
                gap = space_width if space and line else 0.0
                if line and line_width + gap + unit_width > width + 0.01:
                    lines.append(line)
                    line, line_width, gap = [], 0.0, 0.0
                if not line and unit_width > width + 0.01:  # wider than the room at min size
                    for part, bold in parts:
                        for char in part:
                            char_width = fonts.string_width(char, size, bold=bold)
                            if line and line_width + char_width > width:
                                lines.append(line)
                                line, line_width = [], 0.0
                            line.append((char, bold))
                            line_width += char_width
                    continue
                if gap:
                    line.append((" ", parts[0][1]))
                line.extend(parts)
                line_width += gap + unit_width
            lines.append(line)
        self._lines = lines
        self._used = size

    def wrap(self, avail_width, avail_height):
        """Lay the text out in ``avail_width``; return its size."""
        self._layout(avail_width)
        self.width = avail_width
        self.height = len(self._lines) * self._used * self.leading_factor
        return self.width, self.height

    def draw(self):
        """Draw the lines, each part in its font and weight."""
        size = self._used
        leading = size * self.leading_factor
        canvas = self.canv
        if self.color is not None:
            canvas.setFillColor(self.color)
        y = self.height - leading + (leading - size) * 0.5 + size * 0.2
        for parts in self._lines:
            line: list[list] = []  # one string per weight, so a line is read back whole
            for part, bold in parts:
                if line and line[-1][1] == bold:
                    line[-1][0] += part
                else:
                    line.append([part, bold])
            width = sum(fonts.string_width(part, size, bold=bold) for part, bold in line)
            x = 0.0
            if self.align == "right":
                x = self.width - width
            elif self.align in ("centre", "center"):
                x = (self.width - width) / 2
            for part, bold in line:
                fonts.draw_string(canvas, x, y, part, size, bold=bold)
                x += fonts.string_width(part, size, bold=bold)
            y -= leading

    def split(self, avail_width, avail_height):
        """Split a long text between pages, at a line."""
        self.wrap(avail_width, avail_height)
        leading = self._used * self.leading_factor
        fit = int(avail_height // leading)
        if fit <= 0 or fit >= len(self._lines):
            return [] if fit <= 0 else [self]
        first = ["".join(part for part, _bold in line) for line in self._lines[:fit]]
        rest = ["".join(part for part, _bold in line) for line in self._lines[fit:]]
        return [Text("\n".join(first), self._used, bold=self.bold, align=self.align,
                     leading=leading, min_size=self.min_size),
                Text("\n".join(rest), self._used, bold=self.bold, align=self.align,
                     leading=leading, min_size=self.min_size)]


class Heading(Text):
    """A document or section title: bold, large, printed once where the section starts."""

    def __init__(self, value, size: float = 15.0, **options):
        options.setdefault("space_after", 2 * mm)
        super().__init__(value, size, bold=True, **options)
        self.section_title = self.plain


class Section(Flowable):
    """An invisible mark: a section titled ``title`` starts here (its title is in a box)."""

    def __init__(self, title: str):
        super().__init__()
        self.section_title = title
        self.width = self.height = 0

    def wrap(self, avail_width, avail_height):
        """Take no room."""
        return 0, 0

    def draw(self):
        """Draw nothing."""


class Barcode128(Flowable):
    """A Code 128 barcode with its human-readable text underneath (shrunk to the bars' width)."""

    def __init__(self, value: str, *, width: float = 60 * mm, height: float = 14 * mm,
                 show_text: bool = True, font_size: float = 8, bar_width: float = 0.33 * mm):
        super().__init__()
        self.value = str(value)
        self.bar_height = height
        self.show_text = show_text
        self.barcode = code128.Code128(self.value, barHeight=height, barWidth=bar_width,
                                       humanReadable=False, quiet=False)
        if self.barcode.width > width:  # shrink the module width to fit
            self.barcode = code128.Code128(self.value, barHeight=height,
                                           barWidth=bar_width * width / self.barcode.width,
                                           humanReadable=False, quiet=False)
        self.font_size = fonts.fit_size(self.value, font_size, max(self.barcode.width, width))
        text_width = fonts.string_width(self.value, self.font_size) if show_text else 0
        self.width = max(self.barcode.width, text_width)
        self.height = height + (self.font_size * 1.25 if show_text else 0)

    def wrap(self, avail_width, avail_height):
        """Report the barcode's size to the layout."""
        return self.width, self.height

    def draw(self):
        """Draw the bars and the text."""
        offset = self.font_size * 1.25 if self.show_text else 0
        self.barcode.drawOn(self.canv, (self.width - self.barcode.width) / 2, offset)
        if self.show_text:
            fonts.draw_string(self.canv, self.width / 2, self.font_size * 0.25, self.value,
                              self.font_size, align="centre")


def draw_code128(canvas, value: str, x: float, y: float, *, width: float, height: float,
                 show_text: bool = True, font_size: float = 8) -> None:
    """Draw a Code 128 barcode at ``(x, y)`` on a canvas (for labels drawn without flowables)."""
    Barcode128(value, width=width, height=height, show_text=show_text,
               font_size=font_size).drawOn(canvas, x, y)


def draw_lines(canvas, lines: Sequence[str], x: float, top: float, bottom: float,
               width: float, size: float, *, bold_line: str | None = None,
               bold: bool = False, min_size: float = MIN_SIZE, leading: float = 1.18) -> float:
    """Draw lines (an address) from ``top`` down, at the largest size up to ``size`` that fits.

    Lines wrap at spaces, never inside a word; the size shrinks (not under ``min_size``) until
    every word fits ``width`` and every line the room down to ``bottom``. ``bold_line`` is
    the line printed bold (the name). Returns the y of the last baseline.
    """
    wanted = " ".join(bold_line.split()) if bold_line else None
    current = size
    while True:
        wrapped: list[tuple[str, bool]] = []
        for line in lines:
            heavy = bold or line == wanted
            for part in fonts.wrap(line, current, width, bold=heavy, break_words=False):
                wrapped.append((part, heavy))
        widest = max((fonts.min_width(part, current, bold=heavy) for part, heavy in wrapped),
                     default=0)
        if (len(wrapped) * current * leading <= top - bottom and widest <= width) \
                or current <= min_size:
            break
        current = max(min_size, current - 0.5)
    y = top - current * 0.9
    last = y
    for part, heavy in wrapped:
        fonts.draw_string(canvas, x, y, part, current, bold=heavy, max_width=width)
        last = y
        y -= current * leading
    return last


def _cell(value, size: float, *, bold: bool, align: str):
    if isinstance(value, Flowable):
        return value
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, Flowable) for v in value):
        return list(value)
    return Text(value if isinstance(value, (list, tuple)) else
                ("" if value is None else str(value)), size, bold=bold, align=align)


def _texts(cell) -> list[Text]:
    if isinstance(cell, Text):
        return [cell]
    if isinstance(cell, list):
        return [part for part in cell if isinstance(part, Text)]
    return []


def _cell_min(cell, size: float) -> float:
    if isinstance(cell, Text):
        return cell.min_width(size)
    if isinstance(cell, list):
        return max((_cell_min(part, size) for part in cell), default=0.0)
    if isinstance(cell, Flowable):
        return cell.wrap(10_000, 10_000)[0]
    return 0.0


def _cell_natural(cell, size: float) -> float:
    if isinstance(cell, Text):
        return cell.natural_width(size)
    if isinstance(cell, list):
        return max((_cell_natural(part, size) for part in cell), default=0.0)
    return _cell_min(cell, size)


def fit_widths(cells: Sequence[Sequence], widths: Sequence[float], size: float, *,
               padding: float, min_size: float = MIN_SIZE,
               spans: Sequence[tuple[int, int]] = ()) -> tuple[list[float], float]:
    """Return column widths (same total) and a text size at which no word has to break.

    A column too narrow for its longest word takes room first from columns wider than their
    longest line (room nobody uses), then from columns that can wrap, in proportion to what
    they can give; the text shrinks (by half points, down to ``min_size``) only when there is
    no room left. Cells in ``spans`` (``(row, column)`` of a cell spanning columns) are left
    out.
    """
    widths = [float(w) for w in widths]
    total = sum(widths)
    skip = set(spans)
    current = size
    while True:
        need = [0.0] * len(widths)
        natural = [0.0] * len(widths)
        for r, row in enumerate(cells):
            for c, cell in enumerate(row):
                if (r, c) not in skip:
                    need[c] = max(need[c], _cell_min(cell, current) + 2 * padding)
                    natural[c] = max(natural[c], _cell_natural(cell, current) + 2 * padding)
        if sum(need) <= total + 0.01 or current <= min_size:
            break
        current = max(min_size, current - 0.5)
    deficit = sum(max(0.0, n - w) for n, w in zip(need, widths, strict=True))
    if deficit <= 0:
        return widths, current
    widths = [max(w, n) for w, n in zip(widths, need, strict=True)]
    # 1. room nobody uses: a column wider than its longest line
    for limit in (natural, need):
        spare = [max(0.0, w - max(lim, n)) for w, lim, n in zip(widths, limit, need, strict=True)]
        available = sum(spare)
        if available <= 0:
            continue
        share = min(1.0, deficit / available)
        widths = [w - sp * share for w, sp in zip(widths, spare, strict=True)]
        deficit -= available * share
        if deficit <= 0.01:
            break
    return widths, current


def data_table(rows: Sequence[Sequence], *, widths: Sequence[float], header: bool = True,
               align_right: Sequence[int] = (), size: float = 8.5, min_size: float = MIN_SIZE,
               padding: float = 2.5, style: Sequence[tuple] = (), valign: str = "TOP",
               header_rows: int = 1, fill_header: bool = True,
               repeat_rows: int | tuple[int, ...] | None = None) -> Table:
    """Return a table with a grid, a grey bold header row repeated on each page.

    Cells are strings (wrapped :class:`Text`), ``(text, bold)`` segment lists, or flowables
    (barcodes). Columns are widened or the text shrunk so that no word or code breaks (see
    :func:`fit_widths`).
    """
    header_rows = header_rows if header else 0
    cells = [[_cell(value, size, bold=r < header_rows,
                    align="right" if c in align_right and r >= header_rows else "left")
              for c, value in enumerate(row)] for r, row in enumerate(rows)]
    spans = []
    for command in style:
        if command[0] == "SPAN":
            (c0, r0), (c1, r1) = command[1], command[2]
            for r in range(r0, (r1 if r1 >= 0 else len(rows) + r1) + 1):
                for c in range(c0, (c1 if c1 >= 0 else len(widths) + c1) + 1):
                    spans.append((r, c))
    widths, used = fit_widths(cells, widths, size, padding=padding, min_size=min_size,
                              spans=spans)
    for row in cells:
        for cell in row:
            for part in _texts(cell):
                if part.size > used:
                    part.set_size(used)
    table = Table(cells, colWidths=widths,
                  repeatRows=header_rows if repeat_rows is None else repeat_rows)
    commands = [
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), valign),
        ("LEFTPADDING", (0, 0), (-1, -1), padding),
        ("RIGHTPADDING", (0, 0), (-1, -1), padding),
        ("TOPPADDING", (0, 0), (-1, -1), padding * 0.8),
        ("BOTTOMPADDING", (0, 0), (-1, -1), padding),
    ]
    if header_rows and fill_header:
        commands.append(("BACKGROUND", (0, 0), (-1, header_rows - 1), HEADER_FILL))
    table.setStyle(TableStyle(commands + list(style)))
    return table


def grid_table(rows: Sequence[Sequence], *, col_widths: Sequence[float],
               header: bool = True, align_right: Sequence[int] = (),
               font_size: float = 8.5) -> Table:
    """Return :func:`data_table` (the older name)."""
    return data_table(rows, widths=col_widths, header=header, align_right=align_right,
                      size=font_size)


def pairs_table(rows: Sequence[tuple], *, widths: Sequence[float] = (45 * mm, 135 * mm),
                size: float = 9, label_size: float = 8, box: bool = False) -> Table:
    """Return a two-column table of ``(label, value)`` rows: the label small and bold."""
    cells = [[Text(label, label_size, bold=True),
              value if isinstance(value, Flowable) else Text(value, size)]
             for label, value in rows]
    widths, used = fit_widths(cells, widths, size, padding=2)
    table = Table(cells, colWidths=widths)
    commands = [("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]
    if box:
        commands.append(("GRID", (0, 0), (-1, -1), 0.4, GRID))
    table.setStyle(TableStyle(commands))
    return table


def block(title: str, lines: Sequence, *, size: float = 9, bold_first: bool = False,
          bold_line: str | None = None, title_size: float = 7.5) -> list:
    """Return a captioned block: a small bold caption, then one :class:`Text` per line.

    ``bold_first`` makes the first line bold, ``bold_line`` the line equal to it (a name, which
    an address in Chinese or Japanese order prints last).
    """
    out: list = [Text(title, title_size, bold=True, space_after=0.8 * mm)]
    wanted = " ".join(bold_line.split()) if bold_line else None
    for n, line in enumerate(line for line in lines if line):
        out.append(Text(line, size, bold=(bold_first and n == 0) or line == wanted))
    return out


def boxes(cells: Sequence[list], widths: Sequence[float], *, padding: float = 3) -> Table:
    """Return blocks side by side, each in its own box."""
    table = Table([list(cells)], colWidths=list(widths))
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("GRID", (0, 0), (-1, -1), 0.5, GRID),
                               ("LEFTPADDING", (0, 0), (-1, -1), padding),
                               ("RIGHTPADDING", (0, 0), (-1, -1), padding),
                               ("TOPPADDING", (0, 0), (-1, -1), padding),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), padding + 1)]))
    return table


def _now_text() -> str:
    try:
        from erp.core.i18n import format_datetime
        return format_datetime(datetime.now(UTC).replace(tzinfo=None))
    except RuntimeError:  # outside an application context
        return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _words() -> tuple[Callable[[str], str], Callable[[int], str], Callable[[str], str]]:
    try:
        from erp.core.i18n import _
        return (lambda when: _("Printed %(time)s", time=when),
                lambda page: _("Page %(page)s", page=page),
                lambda title: _("%(title)s (continued)", title=title))
    except RuntimeError:  # pragma: no cover - outside an application context
        return (lambda when: f"Printed {when}", lambda page: f"Page {page}",
                lambda title: f"{title} (continued)")


class _Document(BaseDocTemplate):
    """An A4 document whose header names the section a page continues."""

    def __init__(self, buffer, *, title: str, company: str, **options):
        super().__init__(buffer, pagesize=A4, title=title, author=company, **options)
        self.company = company
        self.section = ""
        self.titled = False
        self.printed = _now_text()
        self.words = _words()
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body",
                      leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        self.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=self._begin,
                                            onPageEnd=self._end)])

    def afterFlowable(self, flowable):
        """Remember the section a page is in (its heading)."""
        title = getattr(flowable, "section_title", None)
        if title:
            self.section = title
            self.titled = True

    def _begin(self, canvas, doc):
        self.titled = False

    def _end(self, canvas, doc):
        printed, page, continued = self.words
        width, height = A4
        canvas.saveState()
        fonts.draw_string(canvas, A4_MARGIN, height - 10 * mm, self.company, 9, bold=True,
                          max_width=width / 2 - A4_MARGIN)
        if not self.titled and self.section:
            fonts.draw_string(canvas, width - A4_MARGIN, height - 10 * mm,
                              continued(self.section), 9, align="right",
                              max_width=width / 2 - A4_MARGIN - 5 * mm)
        fonts.draw_string(canvas, A4_MARGIN, 8 * mm, printed(self.printed), 7)
        fonts.draw_string(canvas, width - A4_MARGIN, 8 * mm, page(doc.page), 7, align="right")
        canvas.restoreState()


def a4_document(story: list, *, title: str, company: str | None, subtitle: str = "",
                heading: bool = True) -> bytes:
    """Render an A4 document and return the PDF bytes.

    Every page carries the company at the top and the print time and page number at the bottom.
    With ``heading`` the story starts with ``title`` (and ``subtitle``); without it the story
    brings its own :class:`Heading` per section (one invoice per parcel). A page that starts
    without a heading names the section it continues at its top right.
    """
    fonts.register_fonts()
    buffer = io.BytesIO()
    doc = _Document(buffer, title=title, company=company or "", leftMargin=A4_MARGIN,
                    rightMargin=A4_MARGIN, topMargin=16 * mm, bottomMargin=14 * mm)
    head: list = []
    if heading:
        head.append(Heading(title))
        if subtitle:
            head.append(Text(subtitle, 9.5))
        head.append(Spacer(1, 4 * mm))
    doc.build(head + list(story))
    return buffer.getvalue()

