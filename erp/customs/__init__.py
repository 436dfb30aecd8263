"""China export declarations under trade mode 9610.

The per-batch export for the declarant, the completeness gate at batch close, the immutable
customs ledger and the monthly summary. Sits above shipping: shipping calls it through
:mod:`erp.shipping.batch_hooks`.
"""
