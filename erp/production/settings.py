"""Production's settings: what cancelling a made-to-order line costs once production started."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from erp.core.i18n import _, _l
from erp.core.settings import SettingDef, declare


def _percent(value: str) -> Decimal:
    """Parse a percentage from 0 to 100 (decimals allowed)."""
    try:
        number = Decimal(str(value).strip().rstrip("%").strip())
    except InvalidOperation:
        raise ValueError(_("Give a percentage from 0 to 100, e.g. 50.")) from None
    if not number.is_finite() or number < 0 or number > 100:
        raise ValueError(_("Give a percentage from 0 to 100, e.g. 50."))
    return number


declare(
    SettingDef("mto_cancel_fee_percent", _l("Made-to-order cancellation fee (%)"), _percent,
               Decimal("50"),
               _l("Cancelling a made-to-order line after its production started costs this "
                  "share of the line (unit price × quantity, in the order's currency); before "
                  "production starts it is free.")),
)
