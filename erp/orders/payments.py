"""Payment methods of storefront orders and the fee each costs (the ``payment_fees`` setting).

An order carries the storefront's short code of how the buyer paid (``card``, ``paypal``,
``alipay``...): lower-case letters, digits, ``_`` and ``-``, at most 20 characters. The
storefront may send any such code; the ``payment_fees`` setting says what each costs, one
method a line::

    card: 2.9% + 0.30
    paypal: 3.4% + 0.35
    alipay: 1.8%
    bank: 0.50

a percentage of the amount charged (goods and shipping, in the order currency) plus a fixed
amount in the base currency, either part optional. A method the setting does not list costs
nothing (the margin report says how many orders that was). The margin report reads the fees in
force when it runs.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from erp.core.i18n import _, _l
from erp.core.settings import SettingDef, declare

#: the longest payment method code (the column's length)
METHOD_LENGTH = 20
_METHOD = re.compile(r"^[a-z0-9][a-z0-9_-]{0,19}$")
_HUNDRED = Decimal(100)


def normalize_method(value: str) -> str:
    """Return a payment method code, trimmed and lower-cased.

    :raises ValueError: when it is not 1 to 20 letters, digits, ``_`` or ``-`` (starting with a
        letter or digit).
    """
    text = str(value or "").strip().lower()
    if not _METHOD.match(text):
        raise ValueError(_("must be a short code of letters, digits, _ or - (at most "
                           "%(limit)s characters, e.g. card, paypal, alipay), got %(value)s",
                           limit=METHOD_LENGTH, value=repr(str(value or "").strip())))
    return text


class PaymentFees(dict):
    """``{method: (percent, fixed)}``; its text is the setting's canonical form."""

    def fee(self, method: str | None, charged: Decimal) -> tuple[Decimal, Decimal]:
        """Return ``(percentage part, fixed part)`` of the fee on ``charged`` for ``method``.

        The percentage part is in the currency of ``charged``; the fixed part in the base
        currency. ``(0, 0)`` for a method the setting does not list (or none).
        """
        pct, fixed = self.get(method or "", (Decimal(0), Decimal(0)))
        return Decimal(charged) * pct / _HUNDRED, fixed

    def __str__(self) -> str:
        """One ``method: pct% + fixed`` line per method, sorted."""
        lines = []
        for method, (pct, fixed) in sorted(self.items()):
            parts = []
            if pct:
                parts.append(f"{_plain(pct)}%")
            if fixed or not pct:
                parts.append(_plain(fixed))
            lines.append(f"{method}: {' + '.join(parts)}")
        return "\n".join(lines)


def _plain(value: Decimal) -> str:
    text = format(Decimal(value).normalize(), "f")
    return text


def _number(text: str, line_no: int) -> Decimal:
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise ValueError(_("line %(line)s: %(value)s is not an amount of zero or more",
                           line=line_no, value=repr(text.strip())))
    return value


def parse_fees(value: str) -> PaymentFees:
    """Parse the ``payment_fees`` setting (see the module); every bad line is refused.

    :raises ValueError: naming the line and what is wrong with it: no ``method:``, a bad
        method code, a method listed twice, a percentage of 100 or more, a part that is not a
        number of zero or more, or more than one percentage or fixed part.
    """
    fees = PaymentFees()
    for line_no, raw in enumerate(str(value or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if ":" not in line:
            raise ValueError(_('line %(line)s: write "method: percent%% + fixed", e.g. '
                               '"card: 2.9%% + 0.30"; got %(text)s', line=line_no,
                               text=repr(line)))
        name, _sep, rest = line.partition(":")
        try:
            method = normalize_method(name)
        except ValueError as err:
            raise ValueError(_("line %(line)s: the method %(error)s", line=line_no,
                               error=str(err))) from None
        if method in fees:
            raise ValueError(_("line %(line)s: %(method)s is listed twice", line=line_no,
                               method=method))
        pct = fixed = None
        parts = [p for p in rest.split("+") if p.strip()]
        if not parts:
            raise ValueError(_("line %(line)s: %(method)s has no fee; write 0 for none",
                               line=line_no, method=method))
        for part in parts:
            part = part.strip()
            if part.endswith("%"):
                if pct is not None:
                    raise ValueError(_("line %(line)s: %(method)s has two percentages",
                                       line=line_no, method=method))
                pct = _number(part[:-1], line_no)
                if pct >= _HUNDRED:
                    raise ValueError(_("line %(line)s: a fee of %(pct)s%% is not below 100%%",
                                       line=line_no, pct=_plain(pct)))
            else:
                if fixed is not None:
                    raise ValueError(_("line %(line)s: %(method)s has two fixed amounts",
                                       line=line_no, method=method))
                fixed = _number(part, line_no)
        fees[method] = (pct or Decimal(0), fixed or Decimal(0))
    return fees


declare(SettingDef(
    "payment_fees", _l("Payment fees per method"), parse_fees,
    parse_fees("card: 2.9% + 0.30\npaypal: 3.4% + 0.35\nalipay: 1.8%"),
    _l('One method a line: "code: percent% + fixed", e.g. "card: 2.9% + 0.30". The percentage '
       "is of the amount charged (goods and shipping); the fixed part is in the base currency. "
       "A method not listed costs nothing. The margin report uses the fees in force when it "
       "runs."), multiline=True, optional=True))


def payment_fees() -> PaymentFees:
    """Return the payment fees in force (the ``payment_fees`` setting)."""
    from erp.core import settings

    return settings.get("payment_fees")


__all__ = ["METHOD_LENGTH", "PaymentFees", "normalize_method", "parse_fees", "payment_fees"]
