"""Check a PDF's layout the way a reader would notice faults, with pypdf.

:func:`layout` reads every page: the text runs (pypdf ``visitor_text``) with their position,
font and size, each given a box from its position, its size and its width (reportlab's
``stringWidth`` in the font the PDF names), and the lines and dark filled rectangles drawn
(table rules, frames, barcode bars; ``visitor_operand_before``).

:func:`check_layout` then asserts, page by page:

- no text under ``min_size`` points (6 pt by default);
- every run inside the page margins;
- no run overlapping another run (no overprint);
- no run crossing a drawn line or a barcode bar (text stays inside its cell or frame);
- each title given printed once on each page that must carry it.

Use it on every document::

    from tests.pdfcheck import check_layout
    check_layout(pdf_bytes, titles=["Packing slip"])

:func:`render_png` draws what was read (boxes, lines, text) as a PNG for a person to look at
when a check fails (``python -m tests.pdfcheck file.pdf``).
"""

from __future__ import annotations

import io
import math
import os
import re
import sys
from dataclasses import dataclass, field

import pypdf
from reportlab.pdfbase import pdfmetrics

from erp.core import fonts

#: fraction of the font size a glyph reaches below the baseline / above it
DESCENT = 0.21
ASCENT_LATIN = 0.73
ASCENT_CJK = 0.88
#: overlaps smaller than this (points) are ignored: touching is not overprinting
TOLERANCE = 0.25
_CJK = re.compile("[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]")


@dataclass
class Run:
    """One piece of text drawn at one place in one font."""

    text: str
    x: float
    y: float
    size: float
    font: str
    width: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Return ``(x0, y0, x1, y1)``: from the descender to the top of the glyphs."""
        ascent = ASCENT_CJK if _CJK.search(self.text) else ASCENT_LATIN
        return (self.x, self.y - DESCENT * self.size, self.x + self.width,
                self.y + ascent * self.size)

    def __str__(self) -> str:
        return f"{self.text!r} at ({self.x:.1f}, {self.y:.1f}) {self.font} {self.size:.1f}pt"


@dataclass
class Segment:
    """A stroked line (a rectangle's side, a table rule, a frame)."""

    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class Page:
    """What a page draws."""

    number: int
    width: float
    height: float
    text: str
    runs: list[Run] = field(default_factory=list)
    lines: list[Segment] = field(default_factory=list)
    bars: list[tuple[float, float, float, float]] = field(default_factory=list)


def _mult(m: list[float], n: list[float]) -> list[float]:
    return [m[0] * n[0] + m[1] * n[2], m[0] * n[1] + m[1] * n[3],
            m[2] * n[0] + m[3] * n[2], m[2] * n[1] + m[3] * n[3],
            m[4] * n[0] + m[5] * n[2] + n[4], m[4] * n[1] + m[5] * n[3] + n[5]]


def _apply(m: list[float], x: float, y: float) -> tuple[float, float]:
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


def _font_name(resource) -> str:
    """Return the reportlab name of the font a PDF font resource stands for."""
    base = str(resource.get("/BaseFont", "")) if resource is not None else ""
    base = base.lstrip("/").split("+")[-1]
    if base in pdfmetrics.standardFonts:
        return base
    registered = fonts.register_fonts()
    for name, filename in fonts.TRUETYPE:
        stem = filename.rsplit(".", 1)[0]
        if stem.replace("-", "") in base.replace("-", "") or name in base:
            return name
    for name in pdfmetrics.getRegisteredFontNames():
        face = getattr(pdfmetrics.getFont(name), "face", None)
        if face is not None and getattr(face, "name", b"").decode(errors="ignore") in base:
            return name
    return registered[0]


def _width(text: str, font: str, size: float) -> float:
    try:
        return pdfmetrics.stringWidth(text, font, size)
    except (KeyError, UnicodeError):  # pragma: no cover - a font not registered here
        return fonts.string_width(text, size)


def layout(data: bytes) -> list[Page]:
    """Return the pages of a PDF with their text runs, lines and bars."""
    fonts.register_fonts()
    reader = pypdf.PdfReader(io.BytesIO(data))
    pages = []
    for number, page in enumerate(reader.pages, start=1):
        runs: list[Run] = []
        lines: list[Segment] = []
        bars: list[tuple[float, float, float, float]] = []
        path: list[tuple[str, tuple]] = []
        state = {"dark": True, "stack": []}
        # pypdf reports each run with the text matrix of its line's start (it does not advance
        # it over the text shown): runs reported from one origin within one BT..ET follow
        # each other, so the pen position is kept per origin
        advance: dict[tuple, float] = {}

        def visit_text(text, cm, tm, resource, size, runs=runs, advance=advance):
            text = (text or "").split("\n")[0] if (text or "").strip("\n") else ""
            if not text:
                return
            matrix = _mult(tm, cm)
            scale_x = math.hypot(matrix[0], matrix[1])
            scale_y = math.hypot(matrix[2], matrix[3])
            font = _font_name(resource)
            key = tuple(round(v, 3) for v in matrix)
            start = matrix[4] + advance.get(key, 0.0)
            advance[key] = advance.get(key, 0.0) + _width(text, font, size) * scale_x
            if not text.strip():
                return
            # the run's leading spaces are not ink
            stripped = text.lstrip(" ")
            x = start + _width(text[:len(text) - len(stripped)], font, size) * scale_x
            runs.append(Run(stripped.rstrip(" "), x, matrix[5], size * scale_y, font,
                            _width(stripped.rstrip(" "), font, size) * scale_x))

        def visit_op(operator, operands, cm, tm, path=path, lines=lines, bars=bars,
                     state=state, advance=advance):
            op = operator.decode() if isinstance(operator, bytes) else str(operator)
            if op == "BT":
                advance.clear()
            elif op == "q":
                state["stack"].append(state["dark"])
            elif op == "Q" and state["stack"]:
                state["dark"] = state["stack"].pop()
            elif op in ("g", "rg", "k", "sc", "scn"):
                values = [float(v) for v in operands if isinstance(v, (int, float))]
                if op == "k" and len(values) == 4:
                    state["dark"] = values[3] > 0.5 or max(values[:3]) > 0.8
                elif values:
                    state["dark"] = sum(values) / len(values) < 0.5
            elif op == "m":
                path.append(("m", _apply(cm, float(operands[0]), float(operands[1]))))
            elif op == "l":
                path.append(("l", _apply(cm, float(operands[0]), float(operands[1]))))
            elif op == "re":
                x, y, w, h = (float(v) for v in operands[:4])
                path.append(("re", (_apply(cm, x, y), _apply(cm, x + w, y + h))))
            elif op in ("S", "s", "B", "b", "B*", "b*"):
                current = None
                for kind, value in path:
                    if kind == "m":
                        current = value
                    elif kind == "l" and current is not None:
                        lines.append(Segment(*current, *value))
                        current = value
                    elif kind == "re":
                        (x0, y0), (x1, y1) = value
                        for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)),
                                     ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
                            lines.append(Segment(*a, *b))
                path.clear()
            elif op in ("f", "F", "f*"):
                if state["dark"]:
                    for kind, value in path:
                        if kind == "re":
                            (x0, y0), (x1, y1) = value
                            bars.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
                path.clear()
            elif op == "n":
                path.clear()

        text = page.extract_text(visitor_text=visit_text, visitor_operand_before=visit_op)
        box = page.mediabox
        pages.append(Page(number, float(box.width), float(box.height), text, runs, lines, bars))
    return pages


def _overlap(a, b) -> bool:
    return (min(a[2], b[2]) - max(a[0], b[0]) > TOLERANCE
            and min(a[3], b[3]) - max(a[1], b[1]) > TOLERANCE)


def _crosses(box, seg: Segment) -> bool:
    """Return True if a line passes through the inside of a text box."""
    x0, y0, x1, y1 = box[0] + TOLERANCE, box[1] + TOLERANCE, box[2] - TOLERANCE, box[3] - TOLERANCE
    if x0 >= x1 or y0 >= y1:
        return False
    if abs(seg.y0 - seg.y1) < 0.01:  # horizontal
        return y0 < seg.y0 < y1 and min(seg.x0, seg.x1) < x1 and max(seg.x0, seg.x1) > x0
    if abs(seg.x0 - seg.x1) < 0.01:  # vertical
        return x0 < seg.x0 < x1 and min(seg.y0, seg.y1) < y1 and max(seg.y0, seg.y1) > y0
    # a slanted line: sample it
    for step in range(21):
        t = step / 20
        x, y = seg.x0 + (seg.x1 - seg.x0) * t, seg.y0 + (seg.y1 - seg.y0) * t
        if x0 < x < x1 and y0 < y < y1:
            return True
    return False


def problems(data: bytes, *, margin: float = 4.0, min_size: float = 6.0,
             titles: dict[str, object] | list[str] | tuple[str, ...] = (),
             ignore_lines: bool = False) -> list[str]:
    """Return what is wrong with the PDF's layout, one sentence per fault (empty: fine).

    :param margin: the distance (points) text keeps from the page edge.
    :param titles: each title must be printed exactly once on every page; a mapping
        ``{title: pages}`` names the pages (numbers from 1) that carry it, once each, and every
        other page none of it.
    """
    found: list[str] = []
    pages = layout(data)
    wanted = titles if isinstance(titles, dict) else {title: None for title in titles}
    for page in pages:
        where = f"page {page.number}"
        for run in page.runs:
            if run.size < min_size - 0.01:
                found.append(f"{where}: {run} is under {min_size} pt")
            x0, y0, x1, y1 = run.box
            if x0 < margin - 0.01 or y0 < margin - 0.01 or x1 > page.width - margin + 0.01 \
                    or y1 > page.height - margin + 0.01:
                found.append(f"{where}: {run} leaves the page margins")
        for i, a in enumerate(page.runs):
            for b in page.runs[i + 1:]:
                if _overlap(a.box, b.box):
                    found.append(f"{where}: {a} overprints {b}")
        if not ignore_lines:
            for run in page.runs:
                for seg in page.lines:
                    if _crosses(run.box, seg):
                        found.append(f"{where}: {run} crosses a line "
                                     f"({seg.x0:.1f},{seg.y0:.1f})-({seg.x1:.1f},{seg.y1:.1f})")
                        break
                for bar in page.bars:
                    if _overlap(run.box, bar):
                        found.append(f"{where}: {run} is printed over a barcode bar")
                        break
        flat = " ".join(page.text.split())
        for title, on_pages in wanted.items():
            count = flat.count(" ".join(title.split()))
            expected = 1 if on_pages is None or page.number in on_pages else 0
            if count != expected:
                found.append(f"{where}: title {title!r} printed {count} times, "
                             f"expected {expected}")
    return found


def check_layout(data: bytes, **options) -> list[Page]:
    """Assert the PDF has no layout fault (see :func:`problems`); return its pages.

    With ``PDFCHECK_DUMP=folder`` in the environment each PDF checked is also written there,
    with a PNG of its first page (:func:`render_png`), to look at.
    """
    folder = os.environ.get("PDFCHECK_DUMP")
    if folder:
        os.makedirs(folder, exist_ok=True)
        name = os.environ.get("PYTEST_CURRENT_TEST", "document").split(" ")[0]
        path = os.path.join(folder, re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-120:])
        suffix = 1
        while os.path.exists(f"{path}-{suffix}.pdf"):
            suffix += 1
        with open(f"{path}-{suffix}.pdf", "wb") as fh:
            fh.write(data)
        render_png(data, f"{path}-{suffix}.png")
    found = problems(data, **options)
    assert not found, "PDF layout faults:\n" + "\n".join(found[:40])
    return layout(data)


def render_png(data: bytes, path: str, *, page: int = 1, scale: float = 2.0) -> str:
    """Draw page ``page`` as read (lines, bars, text boxes and text) into a PNG; return path."""
    from PIL import Image, ImageDraw, ImageFont

    found = layout(data)[page - 1]
    image = Image.new("RGB", (int(found.width * scale), int(found.height * scale)), "white")
    draw = ImageDraw.Draw(image)
    font_file = str(fonts.fonts_folder() / "NotoSansSC-Regular.ttf")

    def xy(x, y):
        return x * scale, (found.height - y) * scale

    for seg in found.lines:
        draw.line([xy(seg.x0, seg.y0), xy(seg.x1, seg.y1)], fill="black", width=1)
    for x0, y0, x1, y1 in found.bars:
        draw.rectangle([xy(x0, y1), xy(x1, y0)], fill="black")
    for run in found.runs:
        x0, y0, x1, y1 = run.box
        draw.rectangle([xy(x0, y1), xy(x1, y0)], outline=(120, 170, 255))
        face = ImageFont.truetype(font_file, max(1, int(run.size * scale)))
        draw.text(xy(run.x, run.y), run.text, fill="black", font=face, anchor="ls")
    image.save(path)
    return path


if __name__ == "__main__":  # python -m tests.pdfcheck file.pdf [page]
    pdf = open(sys.argv[1], "rb").read()  # noqa: SIM115
    for fault in problems(pdf):
        print(fault)
    print(render_png(pdf, sys.argv[1] + ".png", page=int(sys.argv[2]) if len(sys.argv) > 2 else 1))
