"""Shipping documents (reportlab).

Labels, CN22/CN23, commercial invoices, packing slips, pick lists and dispatch hand-over
sheets; one PDF for a whole wave or batch too.
"""
