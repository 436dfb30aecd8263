"""The Excel import/export framework: declare a sheet's columns once, get the rest.

A domain declares a :class:`Spec` (its columns: header, type, required, validator, help) and gets:

- :func:`export_workbook`: a fast .xlsx export (xlsxwriter, constant memory) that never writes a
  formula and neutralises text that a spreadsheet could run as one (DESIGN, "Excel");
- :func:`template_workbook`: an empty sheet to fill in, with a "Help" sheet;
- :func:`read_workbook`: an .xlsx/.xlsm workbook (python-calamine) or a .csv file to typed rows,
  collecting every error with its sheet row and column;
- :func:`check_upload`: what every upload passes first: refuses files that are too large, not a
  workbook or CSV, encrypted, damaged, or zip or XML bombs, before anything is unpacked;
- :func:`error_report_workbook`: the uploaded sheet with the bad cells in red and an "Errors"
  column;
- :func:`run_import`: read, validate every row (the domain's checks come in as callbacks), then
  dry run or apply everything in one transaction: all or nothing.

Pure Python: no database and no Flask here. Domains pass their lookups and writes in as callables.

Modules: ``columns`` (declarations and results), ``values`` (cell conversion), ``writing``
(exports, templates), ``guards`` (upload checks), ``reading``, ``importing``, ``report``.
"""

from erp.core.excel.columns import (
    COLUMN_TYPES,
    ERRORS_HEADER,
    FORMULA_PREFIXES,
    HELP_SHEET,
    CellError,
    Column,
    ImportResult,
    ParseResult,
    RowError,
    Spec,
)
from erp.core.excel.guards import (
    CSV_EXTENSIONS,
    EXCEL_EXTENSIONS,
    MAX_COMPRESSION_RATIO,
    MAX_UNCOMPRESSED_BYTES,
    MAX_UPLOAD_BYTES,
    MAX_ZIP_ENTRIES,
    FileRefused,
    check_upload,
)
from erp.core.excel.importing import find_duplicates, run_import
from erp.core.excel.reading import read_workbook
from erp.core.excel.report import error_report_workbook
from erp.core.excel.writing import export_workbook, neutralise, template_workbook

__all__ = [
    "COLUMN_TYPES",
    "CSV_EXTENSIONS",
    "ERRORS_HEADER",
    "EXCEL_EXTENSIONS",
    "FORMULA_PREFIXES",
    "HELP_SHEET",
    "MAX_COMPRESSION_RATIO",
    "MAX_UNCOMPRESSED_BYTES",
    "MAX_UPLOAD_BYTES",
    "MAX_ZIP_ENTRIES",
    "CellError",
    "Column",
    "FileRefused",
    "ImportResult",
    "ParseResult",
    "RowError",
    "Spec",
    "check_upload",
    "error_report_workbook",
    "export_workbook",
    "find_duplicates",
    "neutralise",
    "read_workbook",
    "run_import",
    "template_workbook",
]
