"""Reports: the manager dashboard and Excel reports, read-only over every domain.

Figures come from SQL aggregates in each domain's ``queries.py``; long work runs as background
jobs (:mod:`erp.core.jobs`).
"""
