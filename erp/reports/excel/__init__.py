"""Excel reports for managers: one module per report, built from SQL aggregates.

Each module has a data function (the figures, summed in the database with GROUP BY) and
``build(date_from, date_to, progress=None, user=None) -> (bytes, filename)``, which writes the
workbook with :mod:`erp.reports.excel.workbook` (frozen header, number formats, widths,
autofilter, a "Parameters" sheet, native charts; text neutralised against formula injection).
:mod:`erp.reports.registry` lists them for the CLI, the report screen and the background job.
"""
