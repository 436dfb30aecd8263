"""Keep the translation catalogs in step with the code: ``python -m erp.core.catalogs CMD``.

Commands:

- ``sync``: extract the messages of ``erp/`` and ``templates/`` into ``messages.pot``, update
  each ``messages.po`` from it (new entries empty, obsolete ones dropped, no fuzzy guesses) and
  compile. Run it after adding or changing a string.
- ``todo``: print the entries of ``zh_Hans_CN`` still untranslated, as JSON
  ``{msgid: ""}`` ready to be filled in.
- ``fill FILE.json``: write translations ``{msgid: msgstr}`` into ``zh_Hans_CN`` (a plural
  entry is keyed by its singular; Chinese has one form).
- ``merge FILE.po ...``: fill empty entries from other versions of the catalog (after a merge
  of two branches that both added strings).
- ``check``: print what the completeness test would refuse; exit 1 if anything.

The completeness test (``tests/core/test_i18n.py``) runs :func:`problems`.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from datetime import UTC, datetime

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

FIXED_DATE = datetime(2026, 12, 7, tzinfo=UTC)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRANSLATIONS = os.path.join(ROOT, "erp", "translations")
POT = os.path.join(TRANSLATIONS, "messages.pot")
LANGS = ("zh_Hans_CN",)
KEYWORDS = {
    "_": None, "gettext": None, "_l": None, "lazy_gettext": None,
    "ngettext": (1, 2), "lazy_ngettext": (1, 2),
}
#: the Jinja extractor's options must match the runtime environment's policies
JINJA_OPTIONS = {"extensions": "jinja2.ext.do", "trimmed": "true", "newstyle_gettext": "true"}


def po_path(lang: str) -> str:
    """Return the path of ``lang``'s catalog."""
    return os.path.join(TRANSLATIONS, lang, "LC_MESSAGES", "messages.po")


def extract() -> Catalog:
    """Return a catalog of every message the code and the templates hold."""
    catalog = Catalog(project="erp", charset="utf-8")
    sources = [
        (os.path.join(ROOT, "erp"), [("**.py", "python")], {}),
        (os.path.join(ROOT, "templates"), [("**.html", "jinja2")], {"**.html": JINJA_OPTIONS}),
    ]
    for directory, method_map, options in sources:
        for _filename, _lineno, message, comments, context in extract_from_dir(
                directory, method_map, options_map=options, keywords=KEYWORDS,
                comment_tags=("NOTE:",), strip_comment_tags=True):
            catalog.add(message, None, [], auto_comments=comments, context=context)
    return catalog


def read(path: str, lang: str | None = None) -> Catalog:
    """Read a ``.po``/``.pot`` file."""
    with open(path, "rb") as fh:
        return read_po(fh, locale=lang)


def write(catalog: Catalog, path: str) -> None:
    """Write a catalog sorted by message, without locations (fewer merge conflicts)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # a fixed header: a date that changed on every run would conflict in every merge
    catalog.creation_date = catalog.revision_date = FIXED_DATE
    catalog.fuzzy = False
    catalog.version = "1"
    catalog.last_translator = catalog.language_team = "erp developers"
    catalog.copyright_holder = "erp"
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, no_location=True, omit_header=False, sort_output=True,
             ignore_obsolete=True, include_previous=False)
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())


def sync() -> None:
    """Extract, update every language's catalog, compile."""
    template = extract()
    write(template, POT)
    for lang in LANGS:
        path = po_path(lang)
        if os.path.exists(path):
            catalog = read(path, lang)
        else:
            catalog = Catalog(locale=lang, project="erp", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        catalog.obsolete.clear()
        for message in catalog:
            if message.id:
                message.flags.discard("fuzzy")
        write(catalog, path)
    from erp.core.i18n import compile_catalogs
    compile_catalogs()


def _key(message) -> str:
    return message.id[0] if isinstance(message.id, (list, tuple)) else message.id


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return bool(strings) and all(s for s in strings)


def todo(lang: str = "zh_Hans_CN") -> dict[str, str]:
    """Return the untranslated entries of ``lang`` as ``{msgid: ""}``."""
    return {_key(m): "" for m in read(po_path(lang), lang) if m.id and not _translated(m)}


def fill(translations: dict[str, str], lang: str = "zh_Hans_CN") -> int:
    """Write ``translations`` into ``lang``'s catalog; return how many entries changed."""
    catalog = read(po_path(lang), lang)
    changed = 0
    for message in catalog:
        if not message.id:
            continue
        text = translations.get(_key(message))
        if not text:
            continue
        if isinstance(message.id, (list, tuple)):
            message.string = tuple(text for _ in range(catalog.num_plurals))
        else:
            message.string = text
        message.flags.discard("fuzzy")
        changed += 1
    write(catalog, po_path(lang))
    return changed


def merge(paths: list[str], lang: str = "zh_Hans_CN") -> int:
    """Fill empty entries of ``lang`` from the translated entries of other ``.po`` files."""
    found: dict[str, str] = {}
    for path in paths:
        for message in read(path, lang):
            if message.id and _translated(message):
                string = message.string
                found.setdefault(_key(message),
                                 string[0] if isinstance(string, (list, tuple)) else string)
    current = todo(lang)
    return fill({k: v for k, v in found.items() if k in current}, lang)


_PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrs%]")


def _placeholders(text: str) -> set[str]:
    return {m.group(0) for m in _PLACEHOLDER.finditer(text) if m.group(0) != "%%"}


def problems(lang: str = "zh_Hans_CN") -> list[str]:
    """Return every reason the catalog of ``lang`` is not complete and current."""
    found: list[str] = []
    template = extract()
    catalog = read(po_path(lang), lang)
    wanted = {_key(m) for m in template if m.id}
    present = {_key(m) for m in catalog if m.id}
    for key in sorted(wanted - present):
        found.append(f"missing: {key!r}")
    for key in sorted(present - wanted):
        found.append(f"obsolete: {key!r}")
    for message in catalog:
        if not message.id:
            continue
        key = _key(message)
        if "fuzzy" in message.flags:
            found.append(f"fuzzy: {key!r}")
        if not _translated(message):
            found.append(f"untranslated: {key!r}")
            continue
        ids = message.id if isinstance(message.id, (list, tuple)) else [message.id]
        strings = message.string if isinstance(message.string, (list, tuple)) \
            else [message.string]
        expected = set().union(*(_placeholders(i) for i in ids))
        for string in strings:
            got = _placeholders(string)
            # a plural's singular may drop %(num)d ("one parcel"); Chinese keeps every name
            if got - expected or (expected - got) - {"%(num)d", "%(num)s"}:
                found.append(f"placeholders differ: {key!r} -> {string!r}")
    for obsolete in catalog.obsolete:
        found.append(f"obsolete: {obsolete!r}")
    return found


def main(argv: list[str]) -> int:
    """Run a command (see the module's doc)."""
    command, *args = argv or ["sync"]
    if command == "sync":
        sync()
        left = todo()
        print(f"catalogs updated; {len(left)} entries to translate")
    elif command == "todo":
        print(json.dumps(todo(), ensure_ascii=False, indent=1))
    elif command == "fill":
        for path in args:
            with open(path, encoding="utf-8") as fh:
                print(f"{fill(json.load(fh))} entries filled from {path}")
        from erp.core.i18n import compile_catalogs
        compile_catalogs()
    elif command == "merge":
        print(f"{merge(args)} entries filled")
    elif command == "check":
        found = problems()
        print("\n".join(found) or "complete")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
