"""What an upload must pass before any reader opens it: size, type, encryption, zip and XML bombs.

:func:`check_upload` looks at the bytes themselves, not only the file name: an .xlsx is a zip
holding ``[Content_Types].xml`` and ``xl/workbook.xml``; an encrypted workbook (and an old .xls)
is an OLE compound document; a CSV is text. Before python-calamine or openpyxl unpacks anything,
the zip's central directory is checked for sizes and compression ratios no real workbook has,
and the start of every XML part for a DOCTYPE or ENTITY declaration (an "XML bomb"; Excel never
writes one). Both readers stop at the uncompressed size the central directory declares, so
checking the declared sizes bounds what they unpack.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
import zlib

from erp.core.i18n import _, _l

#: what reading a damaged or foreign zip raises; RuntimeError covers an encrypted member and
#: (through its subclass) a compression method zipfile does not support
ZIP_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError)

__all__ = [
    "CSV_EXTENSIONS",
    "ENCRYPTED_MESSAGE",
    "EXCEL_EXTENSIONS",
    "MAX_COMPRESSION_RATIO",
    "MAX_UNCOMPRESSED_BYTES",
    "MAX_UPLOAD_BYTES",
    "MAX_ZIP_ENTRIES",
    "FileRefused",
    "check_upload",
]

MB = 1024 * 1024  # as the web layer counts MAX_CONTENT_LENGTH

#: The largest upload read at all (the web layer's MAX_CONTENT_LENGTH may be lower).
MAX_UPLOAD_BYTES = 25 * MB
#: The most a workbook may unpack to, all parts together, as its zip directory declares.
MAX_UNCOMPRESSED_BYTES = 500 * MB
#: The most parts (zip entries) a workbook may have; Excel writes a few dozen.
MAX_ZIP_ENTRIES = 10_000
#: The highest compression ratio allowed for a part above :data:`RATIO_CHECKED_ABOVE` bytes.
#: Real sheets compress 5 to 30 times; deflate's ceiling, reached by zip bombs, is about 1,000.
MAX_COMPRESSION_RATIO = 200
#: Parts up to this size may compress any amount (a small, very regular part is harmless).
RATIO_CHECKED_ABOVE = 1 * MB
#: How far into an XML part its root element must start (the prolog holds at most a
#: declaration and comments); a DOCTYPE can only come before the root element.
XML_PROLOG_LIMIT = 64 * 1024

EXCEL_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
CSV_EXTENSIONS = frozenset({".csv", ".txt"})  # .txt: Excel's "Unicode Text" (UTF-16, tabs)

# Messages are lazy strings: read in the language of whoever uploads.
ACCEPTED_FORMATS = _l("an Excel workbook (.xlsx or .xlsm) or a CSV file (.csv)")
ENCRYPTED_MESSAGE = _l("This workbook is password-protected; remove the password in Excel "
                       "(File > Info > Protect Workbook) and upload it again.")
LEGACY_MESSAGE = _l("This is an Excel 97-2003 workbook (.xls), another old-format Office file "
                    "or a password-protected workbook, which cannot be imported. Open it in "
                    "Excel, remove any password (File > Info > Protect Workbook), save it as "
                    '"Excel Workbook (.xlsx)" and upload that.')
DAMAGED_MESSAGE = _l("The file is damaged or not a complete .xlsx workbook (it may have been "
                     "cut off while downloading or copying). Open it in Excel, save it again "
                     "and upload it again.")

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries, an empty zip
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Office encryption (ECMA-376 "Agile" or "Standard") stores these streams in the OLE file;
# directory entry names are UTF-16LE.
_ENCRYPTION_STREAMS = ("EncryptionInfo".encode("utf-16-le"),
                       "EncryptedPackage".encode("utf-16-le"))
_BINARY_KINDS = (
    (b"\x89PNG\r\n\x1a\n", _l("it is a PNG image")),
    (b"\xff\xd8\xff", _l("it is a JPEG image")),
    (b"GIF87a", _l("it is a GIF image")),
    (b"GIF89a", _l("it is a GIF image")),
    (b"%PDF-", _l("it is a PDF document")),
    (b"\x7fELF", _l("it is a program")),
    (b"\x1f\x8b", _l("it is a gzip archive")),
    (b"Rar!\x1a\x07", _l("it is a RAR archive")),
    (b"7z\xbc\xaf\x27\x1c", _l("it is a 7-Zip archive")),
    (b"{\\rtf", _l("it is an RTF document")),
)
_EXTENSION_HINTS = {
    ".xls": _l('an Excel 97-2003 file must be saved as "Excel Workbook (.xlsx)" first'),
    ".xlsb": _l('an Excel binary workbook must be saved as "Excel Workbook (.xlsx)" first'),
    ".ods": _l('an OpenDocument spreadsheet must be saved as "Excel Workbook (.xlsx)" first'),
    ".numbers": _l("a Numbers spreadsheet must be exported to Excel (.xlsx) first"),
}
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),  # before UTF-16's, which it starts with
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_XML_SPACE = " \t\r\n"


class FileRefused(ValueError):
    """An upload that cannot or must not be read; the message says why and what to do."""

    def __init__(self, message) -> None:
        """Keep the message as text in the reader's language (it may be a lazy string)."""
        super().__init__(str(message))


def check_upload(
    data: bytes,
    filename: str = "upload.xlsx",
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES,
    max_entries: int = MAX_ZIP_ENTRIES,
    max_ratio: float = MAX_COMPRESSION_RATIO,
) -> str:
    """Return how to read an upload, ``"xlsx"`` or ``"csv"``, or refuse it.

    The content decides: a workbook is read as one whatever its name, a CSV must be text and
    named .csv (or .txt). Nothing is unpacked beyond the first bytes of each part.

    :raises FileRefused: for a file over ``max_bytes``; an encrypted workbook or an old .xls
        (OLE compound documents); a damaged zip; a zip that is not an .xlsx (.ods, .xlsb,
        .docx, ...); a zip bomb (more than ``max_entries`` parts, more than
        ``max_uncompressed_bytes`` declared in all, or a part over 1 MB compressed more than
        ``max_ratio`` times); an XML part declaring a DOCTYPE or ENTITY; any other binary file.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    if len(data) > max_bytes:
        raise FileRefused(_("The file is %(size)s; the limit is %(limit)s. Split it into "
                            "smaller files.", size=_size(len(data), up=True),
                            limit=_size(max_bytes)))
    if not data:
        raise FileRefused(_("The file is empty. Upload %(formats)s.", formats=ACCEPTED_FORMATS))
    if data.startswith(_OLE_MAGIC):
        if any(stream in data for stream in _ENCRYPTION_STREAMS):
            raise FileRefused(ENCRYPTED_MESSAGE)
        raise FileRefused(LEGACY_MESSAGE)
    if data.startswith(_ZIP_MAGIC):
        _check_zip(data, filename, max_uncompressed_bytes=max_uncompressed_bytes,
                   max_entries=max_entries, max_ratio=max_ratio)
        return "xlsx"

    extension = _extension(filename)
    what = _binary_kind(data)
    if what is None and extension in CSV_EXTENSIONS:
        if _looks_binary(data):
            raise FileRefused(_not_accepted(filename, _("it is not a text file")))
        return "csv"
    if what is None:
        what = _EXTENSION_HINTS.get(extension)
    if what is None and extension in EXCEL_EXTENSIONS:
        what = _("it is not in the .xlsx format: it may be damaged, or another kind of file "
                 "renamed")
    raise FileRefused(_not_accepted(filename, what))


def _check_zip(data: bytes, filename: str, *, max_uncompressed_bytes: int, max_entries: int,
               max_ratio: float) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise FileRefused(DAMAGED_MESSAGE) from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > max_entries:
            limit = format(max_entries, ",")
            raise FileRefused(_('The workbook has more than %(count)s parts, which no real '
                                'workbook has; it was refused as a possible "zip bomb".',
                                count=limit))
        names = {entry.filename for entry in entries}
        if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
            raise FileRefused(_not_accepted(filename, _zip_kind(archive, names)))
        total = 0
        for entry in entries:
            if entry.flag_bits & 0x1:
                raise FileRefused(ENCRYPTED_MESSAGE)
            if entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise FileRefused(DAMAGED_MESSAGE)  # Excel only ever stores or deflates
            total += entry.file_size
            if total > max_uncompressed_bytes:
                raise FileRefused(_(
                    'The workbook unpacks to more than %(size)s, the limit; it may be a "zip '
                    'bomb". Split it into smaller files.', size=_size(max_uncompressed_bytes)))
            if entry.file_size > RATIO_CHECKED_ABOVE and (
                    entry.file_size > max_ratio * max(entry.compress_size, 1)):
                raise FileRefused(_(
                    'The workbook part "%(part)s" is compressed more than %(ratio)s times, '
                    'which real workbooks never are; it was refused as a possible "zip bomb".',
                    part=entry.filename, ratio=format(max_ratio, "g")))
        for entry in entries:
            _check_xml_prolog(archive, entry)


def _check_xml_prolog(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
    """Refuse a part that is XML with a DOCTYPE (or any other ``<!`` declaration) before its root.

    Reads the part in small chunks and stops as soon as its root element starts, or at once if
    it is not XML (an image, vbaProject.bin), so at most :data:`XML_PROLOG_LIMIT` bytes.
    """
    if entry.is_dir() or entry.file_size == 0:
        return
    head = b""
    try:
        with archive.open(entry) as part:
            while True:
                chunk = part.read(4096)
                head += chunk
                verdict = _prolog_verdict(head, final=not chunk)
                if verdict == "ok":
                    return
                if verdict == "dtd":
                    raise FileRefused(_(
                        'The workbook part "%(part)s" declares a DOCTYPE or ENTITY, which Excel '
                        'never writes; it was refused as a possible "XML bomb".',
                        part=entry.filename))
                if len(head) >= XML_PROLOG_LIMIT:
                    raise FileRefused(_(
                        'The workbook part "%(part)s" does not start like an Excel part (no '
                        "element in its first %(size)s); it was refused.",
                        part=entry.filename, size=_size(XML_PROLOG_LIMIT)))
    except ZIP_READ_ERRORS as exc:
        raise FileRefused(DAMAGED_MESSAGE) from exc


def _prolog_verdict(head: bytes, *, final: bool) -> str | None:
    """Classify the start of a part: "ok" (not XML, or its root began), "dtd", or None (read on)."""
    text = _xml_text(head)
    if text is None:
        return "ok"  # not XML: no XML parser will take it
    text = text.lstrip(_XML_SPACE)
    if not text:
        return "ok" if final else None
    if not text.startswith("<"):
        return "ok"
    position = 0
    while True:
        start = text.find("<", position)
        if start == -1 or (len(text) - start < 4 and not final):
            return "ok" if final else None
        markup = text[start:start + 4]
        if markup.startswith("<?") or markup == "<!--":
            end = text.find("?>" if markup.startswith("<?") else "-->", start + 2)
            if end == -1:
                return "ok" if final else None
            position = end + 2
            continue
        if markup.startswith("<!"):
            return "dtd"  # <!DOCTYPE (with its <!ENTITY declarations), or anything like it
        return "ok"  # the root element: no DOCTYPE may follow


def _xml_text(head: bytes) -> str | None:
    """Decode the start of what may be XML, in the encoding its first bytes show; None if not.

    As XML 1.0 (appendix F) detects it: a byte order mark, or how a first "<" or space is
    spelled in UTF-32 or UTF-16. Anything else is scanned byte by byte as ASCII-compatible.
    """
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return head[len(bom):].decode(codec, errors="ignore")
    first = head[:4]
    for codec, unit in (("utf-32-be", 4), ("utf-32-le", 4), ("utf-16-be", 2), ("utf-16-le", 2)):
        char = first[:unit].decode(codec, errors="ignore") if len(first) >= unit else ""
        if len(char) == 1 and char in "< \t\r\n":
            return head.decode(codec, errors="ignore")
    text = head.decode("latin-1")
    return text if text.lstrip(_XML_SPACE)[:1] in ("<", "") else None


def _zip_kind(archive: zipfile.ZipFile, names: set[str]) -> str:
    """Say what a zip that is not an .xlsx is, for the refusal message."""
    if "xl/workbook.bin" in names:
        return _EXTENSION_HINTS[".xlsb"]
    if "mimetype" in names:
        try:
            mimetype = archive.read("mimetype")[:100]
        except ZIP_READ_ERRORS:
            mimetype = b""
        if b"opendocument.spreadsheet" in mimetype:
            return _EXTENSION_HINTS[".ods"]
        if b"opendocument" in mimetype:
            return _("it is an OpenDocument file")
    if "word/document.xml" in names:
        return _("it is a Word document")
    if "ppt/presentation.xml" in names:
        return _("it is a PowerPoint presentation")
    return _("it is a zip archive, not an Excel workbook")


def _binary_kind(data: bytes) -> str | None:
    """Name a binary file from its first bytes; None when they say nothing."""
    for magic, kind in _BINARY_KINDS:
        if data.startswith(magic):
            return str(kind)
    if data.startswith(b"MZ") and b"\x00" in data[:64]:
        return _("it is a Windows program")
    return None


def _looks_binary(data: bytes) -> bool:
    """Whether the start of a file has NUL bytes, which text (but UTF-16 text) never has."""
    head = data[:8192]
    return not head.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" in head


def _not_accepted(filename: str, what) -> str:
    name = os.path.basename(filename.strip()) or _("The file")
    if what:
        return _('"%(name)s" cannot be imported (%(why)s). Upload %(formats)s.', name=name,
                 why=what, formats=ACCEPTED_FORMATS)
    return _('"%(name)s" cannot be imported. Upload %(formats)s.', name=name,
             formats=ACCEPTED_FORMATS)


def _extension(filename: str) -> str:
    return os.path.splitext(filename.strip().lower())[1]


def _size(count: int, *, up: bool = False) -> str:
    """Render a byte count as "25 MB" or "1.5 KB"; ``up`` rounds up, so "over" never looks equal."""
    unit, scale = ("MB", MB) if count >= MB else ("KB", 1024)
    value = count / scale
    value = math.ceil(value * 10) / 10 if up else round(value, 1)
    return f"{value:g} {unit}"
