"""Margin: the margin workbook, a summary and one sheet per dimension, with charts.

The figures are :func:`erp.reports.margin.margin_report`'s (the screen shows the same); this
module writes them in the reports' workbook style: a summary of the components, then by month
(with a line chart of revenue and margin), week, day, country (bar chart), shipping service,
brand, category, SKU, and every order. The rules are listed on the Parameters sheet.
"""

from __future__ import annotations

from datetime import date

from erp.core.i18n import _, _l, ngettext
from erp.reports import margin as figures
from erp.reports.excel.workbook import Col, ReportBook, filename, no_progress

NAME = "margin"
TITLE = _l("Margin")
#: the sheets after the summary, in order: dimension -> sheet title
SHEETS = {"month": _l("By month"), "week": _l("By week"), "day": _l("By day"),
          "country": _l("By country"), "service": _l("By service"), "brand": _l("By brand"),
          "category": _l("By category"), "sku": _l("By SKU"), "order": _l("Orders")}


def _money_columns() -> list[Col]:
    labels = figures.COMPONENT_LABELS
    return [Col(str(labels["revenue"]), "money", 14),
            *(Col(str(labels[c]), "money", 13) for c in figures.COMPONENTS),
            Col(str(labels["margin"]), "money", 14), Col(str(labels["margin_pct"]), "percent", 10)]


def _values(row: figures.Figures) -> list:
    return [row.revenue, *(getattr(row, c) for c in figures.COMPONENTS), row.margin,
            row.margin_pct]


def rules() -> list[tuple[str, str]]:
    """The rules the figures follow, in the reader's language (the screen lists them too)."""
    return [
        (_("Orders counted"), _("Orders placed in the period (UTC days) and shipped or "
                                "delivered; open and cancelled orders are left out. A "
                                "replacement order counts as the original order's "
                                "replacements, not as an order.")),
        (_("Currency"), _("Everything in the base currency at the rate valid on the order's "
                          "date; an order missing a rate is left out (not converted).")),
        (_("Revenue"), _("Goods (quantity x unit price) plus the shipping charged.")),
        (_("Cost of goods"), _("Units shipped at the moving-average cost when shipped (the "
                               "parcels' ship stock moves).")),
        (_("Shipping cost"), _("The carrier's billed cost once a carrier bill is matched, "
                               "else the rate-table quote at labelling.")),
        (_("Packaging"), _("The box stock SKU each parcel used up, at its average cost.")),
        (_("Payment fee"), _("The payment fees setting for the order's payment method: a "
                             "percentage of the revenue plus a fixed amount (fees in force "
                             "now); a method not listed costs nothing.")),
        (_("Refunds and replacements"), _("Approved refunds of the order's cases; the cost of "
                                          "goods, shipping and packaging of their replacement "
                                          "orders.")),
        (_("SKU, brand, category"), _("Goods and cost of goods are the line's own; the "
                                      "order's other amounts are spread over its lines by "
                                      "line value.")),
        (_("Rounding"), _("Each order's amounts are rounded to the cent; totals are their "
                          "sums.")),
    ]


def build(date_from: date, date_to: date, progress=no_progress,
          user: str | None = None) -> tuple[bytes, str]:
    """Return the margin workbook of the period and its file name."""
    progress(5, _("Summing the orders' margins"))
    report = figures.margin_report(date_from, date_to)
    book = ReportBook(NAME, TITLE, [(_("Orders placed from"), date_from),
                                    (_("Orders placed to"), date_to)],
                      user=user, base_currency=report.base_currency)
    progress(50, _("Writing"))
    total = report.total
    labels = figures.COMPONENT_LABELS
    summary = [[str(labels["goods"]), total.goods], [str(labels["shipping_charged"]),
                                                     total.shipping_charged],
               [str(labels["revenue"]), total.revenue]]
    summary += [[str(labels[c]), -getattr(total, c)] for c in figures.COMPONENTS[2:]]
    summary += [[str(labels["margin"]), total.margin]]
    book.sheet(_("Summary"), [Col(_("Figure"), width=24),
                              Col(report.base_currency, "money", 16)], summary)
    book.sheet(_("Counts"), [Col(_("Figure"), width=40), Col(_("Orders"), "qty", 12)], [
        [_("Orders counted"), total.orders],
        [_("Open orders left out"), report.open_orders],
        [_("Orders not converted (no rate)"), report.not_converted],
        *([_("Payment method %(method)s has no fee set", method=m), n]
          for m, n in report.unpriced_methods.items())])
    money = _money_columns()
    for i, (dimension, title) in enumerate(SHEETS.items()):
        progress(55 + 4 * i, str(title))
        key = Col(str(figures.DIMENSIONS[dimension]), width=16)
        if dimension == "order":
            ref = book.sheet(title, [key, Col(_("Country"), width=9), Col(_("Currency"), width=9),
                                     Col(_("Units"), "qty", 8), *money],
                             ([r.key, r.label, r.extra["currency"], r.units, *_values(r)]
                              for r in report.orders))
            continue
        rows = report.by.get(dimension, [])
        count = Col(_("Units"), "qty", 10) if dimension in figures.LINE_DIMENSIONS \
            else Col(_("Orders"), "qty", 10)
        head = [key, Col(_("Name"), width=30), count, *money]
        ref = book.sheet(title, head, ([r.key, r.label, r.units if dimension in
                                        figures.LINE_DIMENSIONS else r.orders, *_values(r)]
                                       for r in rows))
        margin_col = 3 + len(money) - 1
        if dimension == "month":
            book.line_chart(ref, title=_("Revenue and margin by month"), label_col=1,
                            value_cols=[4, margin_col], anchor="P2",
                            y_title=report.base_currency)
        elif dimension == "country":
            book.bar_chart(ref, title=_("Margin by country"), label_col=1,
                           value_cols=[margin_col], anchor="P2", y_title=report.base_currency)
        elif dimension == "brand":
            book.bar_chart(ref, title=_("Margin by brand"), label_col=1,
                           value_cols=[margin_col], anchor="P2", y_title=report.base_currency)
    for name, text in rules():
        book.rule(name, text)
    if report.missing_rates:
        book.rule(_("Not converted (no rate)"), ngettext(
            "%(num)d order left out; no rate for %(currencies)s",
            "%(num)d orders left out; no rate for %(currencies)s", report.not_converted,
            currencies=", ".join(report.missing_rates)))
    progress(95, _("Saving"))
    return book.save(), filename(NAME, date_from, date_to)
