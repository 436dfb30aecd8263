"""China export declarations under trade mode 9610.

The per-batch export for the declarant, the completeness gate at batch close, the immutable
customs ledger and the monthly summary. Sits above shipping: shipping calls it through
:mod:`erp.shipping.batch_hooks`.
"""

# Register the settings, the gate, the ledger writer and the batch page panel with shipping's
# hooks (imported with the blueprint by the app factory).
from erp.customs import audit_text, gate, ledger, panel, settings  # noqa: E402,F401
