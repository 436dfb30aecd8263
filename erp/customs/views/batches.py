"""A dispatch batch's 9610 export for the declarant (workbook and XML), and the ledger."""
