"""After-sales settings: the return window, the case service level and refund approval."""

from __future__ import annotations

from decimal import Decimal

from erp.core.i18n import _l
from erp.core.settings import SettingDef, _choice, _decimal, _positive_int, _text, declare

declare(
    SettingDef("return_window_days", _l("Return window (days)"), _positive_int,
               30, _l("A case opened later than this after the order was delivered (or shipped, "
                      "see the next setting) needs a manager's override.")),
    SettingDef("return_window_from", _l("Return window counts from"),
               _choice("delivery", "shipping"), "delivery",
               _l("delivery: from the day the carrier delivered the order's last parcel (the "
                  "shipping day while it is not delivered); shipping: from the day its last "
                  "parcel was dispatched.")),
    SettingDef("case_due_days", _l("Case service level (days to resolve)"), _positive_int, 3,
               _l("A new case is due this many days after it is opened; later ones are flagged "
                  "overdue.")),
    SettingDef("refund_approval_threshold", _l("Refund approval threshold (base currency)"),
               _decimal, Decimal("100"),
               _l("Refunds above this amount (converted to the base currency) wait for a "
                  "manager's approval (0: every refund does).")),
    SettingDef("returns_address", _l("Returns address"), _text, "",
               _l("Printed on return authorisations; one line per row. Empty: the company "
                  "address."), multiline=True, optional=True),
)


def _reason_codes(value: str) -> str:
    """Parse a comma-separated list of reason codes (upper-cased, blanks dropped)."""
    codes = [c.strip().upper() for c in str(value).replace(";", ",").split(",") if c.strip()]
    return ", ".join(dict.fromkeys(codes))


declare(SettingDef(
    "manufacturing_defect_reasons", _l("Reason codes of manufacturing defects"), _reason_codes,
    "DEFECTIVE",
    _l("Comma-separated reason codes meaning the goods were made wrong. Returned units of such "
       "cases graded C may be sent back to their supplier on a supplier return."),
    optional=True))
