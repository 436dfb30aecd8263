"""erp.core.fonts: registration once, the font per text, runs, missing glyphs, drawing."""

from __future__ import annotations

import io

from reportlab.pdfgen.canvas import Canvas

from erp.core import fonts


def test_register_fonts_is_cached():
    first = fonts.register_fonts()
    assert first == ("Helvetica", fonts.SANS, fonts.FALLBACK)
    assert fonts.register_fonts() is first


def test_font_for_picks_the_first_font_covering_the_text():
    assert fonts.font_for("Jose Muller") == "Helvetica"
    assert fonts.font_for("José Müller") == "Helvetica"
    assert fonts.font_for("Иван Петров") == fonts.SANS
    assert fonts.font_for("张伟 北京市") == fonts.SANS
    assert fonts.font_for("東京都 さくら") == fonts.SANS
    assert fonts.font_for("شارع الملك") == fonts.FALLBACK
    assert fonts.font_for("עברית") == fonts.FALLBACK


def test_mixed_scripts_are_split_into_runs():
    runs = fonts.runs("张伟 شارع")
    assert [font for font, _ in runs] == [fonts.SANS, fonts.FALLBACK]
    assert "".join(part for _, part in runs) == "张伟 شارع"


def test_missing_glyphs_reports_uncovered_characters():
    assert fonts.missing_glyphs("Иван 张伟 شارع") == set()
    assert fonts.missing_glyphs("Bob \U00013000 ก") == {"\U00013000", "ก"}
    assert fonts.missing_glyphs(None) == set()
    runs = fonts.runs("ab\U00013000c")
    assert "".join(part for _, part in runs) == "ab?c"


def test_draw_string_shrinks_to_fit_and_never_drops_text():
    canvas = Canvas(io.BytesIO())
    size = fonts.draw_string(canvas, 0, 0, "张伟 " * 30, 10, max_width=100)
    assert size < 10
    assert fonts.draw_string(canvas, 0, 0, "short", 10, max_width=100) == 10
    assert fonts.draw_string(canvas, 0, 0, "", 10) == 10


def test_wrap_breaks_words_and_cjk_without_losing_characters():
    text = "张伟张伟张伟张伟张伟 lives at a very long street name"
    lines = fonts.wrap(text, 10, 60)
    assert len(lines) > 2
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(fonts.string_width(line, 10) <= 60 for line in lines)


def test_markup_escapes_and_tags_runs():
    assert fonts.markup("A & <b>") == "A &amp; &lt;b&gt;"
    assert fonts.markup("Иван") == f'<font face="{fonts.SANS}">Иван</font>'


def test_fonts_folder_holds_the_vendored_fonts(app):
    with app.app_context():
        folder = fonts.fonts_folder()
    assert (folder / "NotoSansSC-Regular.ttf").is_file()
    assert (folder / "DejaVuSans.ttf").is_file()
