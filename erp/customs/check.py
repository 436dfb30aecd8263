"""``erp check-customs``: the customs ledger is complete and the monthly summary adds up.

Checks, each in one SQL statement over the whole ledger:

- every dispatched parcel of a 9610 order has a declaration (at most one is the unique
  constraint on ``customs_declaration.parcel_id``), and every declaration's parcel was
  dispatched (the ledger is written when the batch closes);
- every declaration has at least one line, numbered 1, 2, ... without a gap (``gnum``: the
  unique constraint on (declaration, gnum) makes "lowest 1, highest = count" enough);
- each declaration's ``goods_value`` equals the sum of its lines' ``total_price``;
- each month's summary (:func:`erp.customs.summary.monthly_summary`) adds up to the month's
  ledger lines: Σ value, Σ first quantity, Σ second quantity, line count.

:func:`check_customs` returns the problems (sentences naming parcel, order and figure);
nothing writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import BigInteger, func, select, type_coerce

from erp.core.i18n import _
from erp.core.types import Money
from erp.customs.models import CustomsDeclaration, CustomsDeclarationLine, Qty
from erp.customs.summary import TRADE_MODE, summary_query
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.shipping.models import PARCEL_STATES, Parcel, ParcelState

D = CustomsDeclaration
L = CustomsDeclarationLine
#: problems listed per check at most (the count says how many more)
LIMIT = 200


@dataclass
class CustomsCheck:
    """What :func:`check_customs` found: the problems and the figures it checked."""

    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    declarations: int = 0
    lines: int = 0
    periods: int = 0

    @property
    def ok(self) -> bool:
        """Return whether nothing is wrong."""
        return self.problem_count == 0

    def add(self, message: str) -> None:
        """Count a problem, keeping its sentence while under the limit."""
        self.problem_count += 1
        if len(self.problems) < LIMIT:
            self.problems.append(message)

    def summary(self) -> str:
        """Return the one-line verdict."""
        if self.ok:
            return _("Customs ledger ok: %(declarations)s declaration(s), %(lines)s line(s), "
                     "%(periods)s month(s); every dispatched 9610 parcel has one declaration "
                     "and each month's summary adds up.",
                     declarations=self.declarations, lines=self.lines, periods=self.periods)
        return _("%(count)s customs ledger problem(s).", count=self.problem_count)


def _sum(column, kind):
    return type_coerce(func.sum(type_coerce(column, BigInteger)), kind)


def check_customs() -> CustomsCheck:
    """Check the customs ledger and each month's summary; return the problems found."""
    result = CustomsCheck()
    _missing_declarations(result)
    _undispatched(result)
    _line_numbering(result)
    _goods_values(result)
    _summaries(result)
    return result


def _missing_declarations(result: CustomsCheck) -> None:
    rows = db.session.execute(
        select(Parcel.number, CustomerOrder.number)
        .join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
        .outerjoin(D, D.parcel_id == Parcel.id)
        .where(Parcel.state == ParcelState.dispatched, CustomerOrder.trade_mode == TRADE_MODE,
               D.id.is_(None))
        .order_by(Parcel.id))
    for parcel, order in rows:
        result.add(_("Parcel %(parcel)s (order %(order)s) was dispatched under 9610 but has no "
                     "customs declaration.", parcel=parcel, order=order))


def _undispatched(result: CustomsCheck) -> None:
    rows = db.session.execute(
        select(D.cop_no, Parcel.number, Parcel.state).join(Parcel, Parcel.id == D.parcel_id)
        .where(Parcel.state != ParcelState.dispatched).order_by(D.id))
    for cop_no, parcel, state in rows:
        result.add(_("Declaration %(cop_no)s is for parcel %(parcel)s, which is %(state)s, not "
                     "dispatched.", cop_no=cop_no, parcel=parcel, state=PARCEL_STATES.label(state)))


def _line_numbering(result: CustomsCheck) -> None:
    counts = (select(L.declaration_id, func.count(L.id).label("n"),
                     func.min(L.gnum).label("first"), func.max(L.gnum).label("last"))
              .group_by(L.declaration_id).subquery())
    rows = db.session.execute(
        select(D.cop_no, Parcel.number, counts.c.n, counts.c.first, counts.c.last)
        .join(Parcel, Parcel.id == D.parcel_id)
        .outerjoin(counts, counts.c.declaration_id == D.id)
        .where((counts.c.n.is_(None)) | (counts.c.first != 1) | (counts.c.last != counts.c.n))
        .order_by(D.id))
    for cop_no, parcel, n, first, last in rows:
        if not n:
            result.add(_("Declaration %(cop_no)s (parcel %(parcel)s) has no lines.",
                         cop_no=cop_no, parcel=parcel))
        else:
            result.add(_("Declaration %(cop_no)s (parcel %(parcel)s): its %(n)s line(s) are "
                         "numbered %(first)s to %(last)s, not 1 to %(n)s.",
                         cop_no=cop_no, parcel=parcel, n=n, first=first, last=last))


def _goods_values(result: CustomsCheck) -> None:
    totals = (select(L.declaration_id, _sum(L.total_price, Money()).label("total"))
              .group_by(L.declaration_id).subquery())
    rows = db.session.execute(
        select(D.cop_no, Parcel.number, D.goods_value, totals.c.total)
        .join(Parcel, Parcel.id == D.parcel_id)
        .join(totals, totals.c.declaration_id == D.id)
        .where(type_coerce(D.goods_value, BigInteger) != type_coerce(totals.c.total, BigInteger))
        .order_by(D.id))
    for cop_no, parcel, goods_value, total in rows:
        result.add(_("Declaration %(cop_no)s (parcel %(parcel)s): goods value %(value)s is not "
                     "the sum of its lines, %(total)s.", cop_no=cop_no, parcel=parcel,
                     value=goods_value, total=total))


def _summaries(result: CustomsCheck) -> None:
    """Compare each month's summary with its ledger lines, counted apart from the grouping."""
    ledger = {row.period: row for row in db.session.execute(
        select(D.period, func.count(L.id).label("lines"),
               _sum(L.total_price, Money()).label("value"), _sum(L.qty1, Qty()).label("qty1"),
               _sum(L.qty2, Qty()).label("qty2"))
        .select_from(L).join(D, D.id == L.declaration_id)
        .where(D.trade_mode == TRADE_MODE).group_by(D.period))}
    result.declarations = db.session.scalar(select(func.count(D.id))) or 0
    result.lines = db.session.scalar(select(func.count(L.id))) or 0
    result.periods = len(ledger)
    for period, row in sorted(ledger.items()):
        summed = {"lines": 0, "value": Decimal(0), "qty1": Decimal(0), "qty2": Decimal(0)}
        for line in db.session.execute(summary_query(period)):
            summed["lines"] += line.lines
            summed["value"] += line.total_price or 0
            summed["qty1"] += line.qty1 or 0
            summed["qty2"] += line.qty2 or 0
        expected = {"lines": row.lines, "value": row.value or Decimal(0),
                    "qty1": row.qty1 or Decimal(0), "qty2": row.qty2 or Decimal(0)}
        names = {"lines": _("line count"), "value": _("total value"),
                 "qty1": _("first quantity"), "qty2": _("second quantity")}
        for name, want in expected.items():
            if summed[name] != want:
                result.add(_("Month %(period)s: the summary's %(figure)s is %(summary)s, the "
                             "ledger's %(ledger)s.", period=period, figure=names[name],
                             summary=summed[name], ledger=want))
