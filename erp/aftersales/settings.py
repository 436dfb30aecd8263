"""After-sales settings: the return window, the case service level and refund approval.

Also which reasons are manufacturing defects, and when their returns flag a specification
version for revision (:mod:`erp.aftersales.spec_revision`).
"""

from __future__ import annotations

import re
from decimal import Decimal

from erp.core.i18n import _, _l, ngettext
from erp.core.settings import (
    SettingDef,
    _choice,
    _decimal,
    _positive_decimal,
    _positive_int,
    _text,
    declare,
)

_CODE = re.compile(r"^[A-Z0-9_]{1,30}$")


def _reason_codes(value: str) -> frozenset[str]:
    """Reason codes separated by spaces, commas or semicolons; one bad code refuses them all."""
    codes = [c.strip().upper() for c in str(value).replace(",", " ").replace(";", " ").split()
             if c.strip()]
    bad = sorted({c for c in codes if not _CODE.match(c)})
    if bad:
        raise ValueError(ngettext(
            "must be reason codes (capital letters, digits and underscores); %(codes)s is not "
            "one", "must be reason codes (capital letters, digits and underscores); %(codes)s "
            "are not", len(bad), codes=", ".join(bad)))
    return frozenset(codes)


def _percent(value: str) -> Decimal:
    """A share in per cent, more than 0 and at most 100."""
    dec = _positive_decimal(value)
    if dec > 100:
        raise ValueError(_("must be at most 100"))
    return dec

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
    SettingDef("manufacturing_defect_reasons", _l("Manufacturing-defect reasons"),
               _reason_codes, frozenset({"DEFECTIVE"}),
               _l("The reason codes (separated by spaces or commas) whose returns count as "
                  "manufacturing defects: in the supplier scorecard, for flagging "
                  "specifications for revision, and for sending items graded C back to their "
                  "supplier on a supplier return. Empty: none."), optional=True),
    SettingDef("alteration_refund_percent", _l("Alteration refund: share of the line (%)"),
               _percent, Decimal("30"),
               _l("An alteration refund (a made-to-measure item that does not fit and is "
                  "altered) may reach this share of the line's amount, less alteration refunds "
                  "already made for that line.")),
    SettingDef("spec_revision_rate_pct", _l("Specification revision: return rate (%)"),
               _percent, Decimal("3"),
               _l("A specification version is flagged for revision when the units of its SKUs "
                  "returned for manufacturing-defect reasons reach this share of the units "
                  "shipped in the window (and the minimum below).")),
    SettingDef("spec_revision_min_units", _l("Specification revision: minimum units returned"),
               _positive_int, 5,
               _l("Fewer units returned for manufacturing-defect reasons in the window never "
                  "flag a specification version, whatever the rate.")),
    SettingDef("spec_revision_window_days", _l("Specification revision: window (days)"),
               _positive_int, 90,
               _l("The rolling window the returns and shipments are counted over. It starts no "
                  "earlier than the version's approval, nor than its last cleared flag.")),
)

