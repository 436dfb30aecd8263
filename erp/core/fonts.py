"""Fonts for PDFs whose text comes from customers (any script).

The standard PDF fonts cover Latin-1 only. Labels and customs documents print consignee names and
addresses in Cyrillic, Chinese, Arabic..., so this module registers the vendored TrueType fonts
(``static/vendor/fonts``) once per process and picks, for a piece of text, the first font whose
character map covers it:

1. ``Helvetica`` (built in, nothing embedded) for plain Latin-1 text,
2. ``ERP-Sans`` (Noto Sans SC: Latin, Cyrillic, Chinese, Japanese),
3. ``ERP-Sans-Fallback`` (DejaVu Sans: Arabic, Greek, Hebrew, Armenian, Georgian...).

Text no single font covers (a Chinese name with an Arabic street) is drawn in runs, one font per
run. A character no font covers is drawn as ``?`` and reported by :func:`missing_glyphs`, so callers
can refuse or warn rather than print a wrong address.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

SANS = "ERP-Sans"
FALLBACK = "ERP-Sans-Fallback"
BASE = "Helvetica"
BASE_BOLD = "Helvetica-Bold"
REPLACEMENT = "?"

# (reportlab name, file in static/vendor/fonts), in order of preference after Helvetica.
TRUETYPE = ((SANS, "NotoSansSC-Regular.ttf"), (FALLBACK, "DejaVuSans.ttf"))

_lock = threading.Lock()
_cmaps: dict[str, frozenset[int]] = {}
_order: tuple[str, ...] = ()


def fonts_folder() -> Path:
    """Return the folder of the vendored fonts (``static/vendor/fonts``).

    Inside an app context the app's static folder is used; otherwise the folder next to the
    ``erp`` package (the repository root).
    """
    try:
        from flask import current_app

        static = current_app.static_folder
    except RuntimeError:  # no app context
        static = None
    if static:
        folder = Path(static) / "vendor" / "fonts"
        if folder.is_dir():
            return folder
    return Path(__file__).resolve().parents[2] / "static" / "vendor" / "fonts"


def _latin1() -> frozenset[int]:
    # Helvetica's WinAnsi encoding, restricted to the printable Latin-1 range.
    return frozenset(list(range(0x20, 0x7F)) + list(range(0xA0, 0x100)))


def register_fonts() -> tuple[str, ...]:
    """Register the fonts with reportlab once per process; return their names in order."""
    global _order
    if _order:
        return _order
    with _lock:
        if _order:
            return _order
        folder = fonts_folder()
        names = [BASE]
        _cmaps[BASE] = _latin1()
        for name, filename in TRUETYPE:
            path = folder / filename
            if not path.is_file():
                raise FileNotFoundError(f"Font file {path} is missing; PDFs with non-Latin text "
                                        "cannot be printed. Restore static/vendor/fonts.")
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, str(path)))
            font = pdfmetrics.getFont(name)
            _cmaps[name] = frozenset(font.face.charToGlyph)
            names.append(name)
        _order = tuple(names)
    return _order


def _covers(name: str, char: str) -> bool:
    return ord(char) in _cmaps[name]


def _skip(char: str) -> bool:
    # Control characters (tabs, line breaks) are layout, not glyphs.
    return ord(char) < 0x20 or char == "\x7f"


@lru_cache(maxsize=65536)
def font_for(text: str) -> str:
    """Return the first font that covers every character of ``text``.

    When no single font does, the preferred font is returned (draw such text with
    :func:`draw_string`, which splits it into runs).
    """
    order = register_fonts()
    chars = {c for c in str(text) if not _skip(c)}
    for name in order:
        cmap = _cmaps[name]
        if all(ord(c) in cmap for c in chars):
            return name
    return order[1] if len(order) > 1 else order[0]


def _char_font(char: str) -> str | None:
    for name in register_fonts():
        if ord(char) in _cmaps[name]:
            return name
    return None


def missing_glyphs(text: str | None) -> set[str]:
    """Return the characters of ``text`` that no registered font can draw."""
    if not text:
        return set()
    register_fonts()
    return {c for c in str(text) if not _skip(c) and _char_font(c) is None}


@lru_cache(maxsize=65536)
def runs(text: str) -> tuple[tuple[str, str], ...]:
    """Split ``text`` into ``(font, text)`` runs; uncovered characters become ``?``.

    Text one font covers is a single run. Otherwise each character goes to the first font covering
    it, except that spaces and punctuation stay with the run they are in.
    """
    text = str(text)
    single = font_for(text)
    if all(_skip(c) or _covers(single, c) for c in text):
        return ((single, text),) if text else ()
    out: list[list[str]] = []
    for char in text:
        if _skip(char):
            continue
        current = out[-1][0] if out else None
        if current is not None and _covers(current, char):
            out[-1][1] += char
            continue
        font = _char_font(char)
        if font is None:
            font, char = (current or single), REPLACEMENT
            if current is not None:
                out[-1][1] += char
                continue
        out.append([font, char])
    return tuple((font, part) for font, part in out)


def string_width(text: str, size: float, *, bold: bool = False) -> float:
    """Return the width of ``text`` drawn at ``size`` points with the fonts chosen for it."""
    return _width(str(text), size, bold)


@lru_cache(maxsize=65536)
def _width(text: str, size: float, bold: bool = False) -> float:
    return sum(_run_width(BASE_BOLD if bold and font == BASE else font, part, size)
               for font, part in runs(text))


@lru_cache(maxsize=65536)
def _run_width(font: str, part: str, size: float) -> float:
    return pdfmetrics.stringWidth(part, font, size)


#: the smallest size text is drawn at: below it a label or a form is not legible
MIN_SIZE = 6.0


def draw_string(canvas, x: float, y: float, text, size: float, *,
                max_width: float | None = None, bold: bool = False,
                align: str = "left", min_size: float = MIN_SIZE) -> float:
    """Draw ``text`` at ``(x, y)`` in the fonts that cover it; return the size used.

    ``max_width`` shrinks the font size (down to ``min_size``, 6 pt) so the text fits instead of
    cutting characters off. ``bold`` uses Helvetica-Bold for Latin-1 text (the TrueType fonts
    have no bold face here). ``align`` is ``left``, ``right`` or ``centre`` around ``x``.
    """
    text = "" if text is None else str(text)
    if not text:
        return size
    parts = runs(text)
    if max_width is not None or align != "left":
        width = _width(text, size, bold)
        if max_width is not None and width > max_width and width > 0:
            new_size = max(min_size, size * max_width / width)
            width = width * new_size / size
            size = new_size
        if align in ("right", "end"):
            x -= width
        elif align in ("centre", "center"):
            x -= width / 2
    if len(parts) == 1:
        font, part = parts[0]
        canvas.setFont(BASE_BOLD if bold and font == BASE else font, size)
        canvas.drawString(x, y, part)
        return size
    for font, part in parts:
        name = BASE_BOLD if bold and font == BASE else font
        canvas.setFont(name, size)
        canvas.drawString(x, y, part)
        x += pdfmetrics.stringWidth(part, name, size)
    return size


def fit_size(text: str | None, size: float, max_width: float, *, bold: bool = False,
             min_size: float = MIN_SIZE) -> float:
    """Return the largest size up to ``size`` (not under ``min_size``) at which text fits."""
    width = _width(str(text or ""), size, bold)
    if width <= max_width or width <= 0:
        return size
    return max(min_size, size * max_width / width)


# Characters a line may not start with (they stay with the character before them), and the
# scripts written without spaces, where a line may break between any two characters.
_NO_BREAK_BEFORE = set("，。、：；！？）」』】〉》〕］｝,.;:!?)]}%％·・ー～…")
_NO_BREAK_AFTER = set("（「『【〈《〔［｛([{")


def _breaks_anywhere(char: str) -> bool:
    code = ord(char)
    return (0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF
            or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF
            or 0x3000 <= code <= 0x303F or 0x20000 <= code <= 0x2FA1F)


def tokens(text: str) -> list[tuple[str, bool]]:
    """Split one line of text into the pieces a line may break between.

    Returns ``(piece, space_before)`` pairs. Latin words (codes like ``KB-BAG-COR-8``
    included) are never split: a line breaks at a space, or between two Chinese or Japanese
    characters (closing punctuation stays with the character before it).
    """
    out: list[tuple[str, bool]] = []
    piece, space = "", False
    for char in str(text):
        if char == " ":
            if piece:
                out.append((piece, space))
                piece = ""
            space = True
            continue
        if (piece and piece[-1] not in _NO_BREAK_AFTER and char not in _NO_BREAK_BEFORE
                and (_breaks_anywhere(char) or _breaks_anywhere(piece[-1]))):
            out.append((piece, space))
            piece, space = "", False
        piece += char
    if piece:
        out.append((piece, space))
    return _join_short_words(out)


#: a run of Chinese or Japanese characters this short is a word kept whole (数量, 单价, 库位)
SHORT_WORD = 5


def _join_short_words(pieces: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Keep a short run of Chinese characters (a caption like 数量) on one line."""
    out: list[tuple[str, bool]] = []
    index = 0
    while index < len(pieces):
        end = index + 1
        if _breaks_anywhere(pieces[index][0][0]):
            while (end < len(pieces) and not pieces[end][1]
                   and _breaks_anywhere(pieces[end][0][0])):
                end += 1
        run = "".join(piece for piece, _space in pieces[index:end])
        if end - index > 1 and len(run) <= SHORT_WORD:
            out.append((run, pieces[index][1]))
        else:
            out.extend(pieces[index:end])
        index = end
    return out


def min_width(text: str | None, size: float, *, bold: bool = False) -> float:
    """Return the width of the widest piece of ``text`` a line cannot break (its longest word)."""
    widest = 0.0
    for paragraph in str(text or "").splitlines():
        for piece, _space in tokens(paragraph):
            widest = max(widest, _width(piece, size, bold))
    return widest


def wrap(text: str | None, size: float, max_width: float, *, bold: bool = False,
         break_words: bool = True) -> list[str]:
    """Break ``text`` into lines no wider than ``max_width``.

    Lines break at spaces and between Chinese or Japanese characters; existing line breaks are
    kept. A word wider than the line is broken between characters when ``break_words``, else
    left whole on its own line (the caller shrinks the text or widens the column). Nothing is
    dropped.
    """
    lines: list[str] = []
    for paragraph in str(text or "").splitlines() or [""]:
        line = ""
        for piece, space in tokens(paragraph):
            candidate = f"{line}{' ' if space and line else ''}{piece}"
            if not line or _width(candidate, size, bold) <= max_width:
                if not line and _width(piece, size, bold) > max_width and break_words:
                    for char in piece:  # a word wider than the line: break it
                        if line and _width(line + char, size, bold) > max_width:
                            lines.append(line)
                            line = ""
                        line += char
                    continue
                line = candidate
                continue
            lines.append(line)
            line = ""
            if _width(piece, size, bold) > max_width and break_words:
                for char in piece:
                    if line and _width(line + char, size, bold) > max_width:
                        lines.append(line)
                        line = ""
                    line += char
            else:
                line = piece
        if line:
            lines.append(line)
    return lines


def markup(text, *, bold: bool = False) -> str:
    """Return ``text`` escaped for a reportlab Paragraph, with ``<font>`` tags per run.

    Use it for customer text inside Platypus documents (A4 customs papers):
    ``Paragraph(fonts.markup(order.ship_name), style)``.
    """
    out = []
    for font, part in runs("" if text is None else str(text)):
        escaped = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if font == BASE:
            out.append(f"<b>{escaped}</b>" if bold else escaped)
        else:
            out.append(f'<font face="{font}">{escaped}</font>')
    return "".join(out)
