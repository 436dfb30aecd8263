"""The transport attribute columns of the category and SKU sheets.

Both sheets carry the battery kind and the yes/no flags (the SKU sheet also the battery's
cells). Unlike the other optional columns, an empty cell here means "inherit" (from the parent
category, or for a SKU from its category), so an export imported again changes nothing and a
value can be taken back off. A file without one of these columns leaves that attribute alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from erp.catalog.models import TRANSPORT_FLAGS, BatteryKind
from erp.catalog.transport import clean_transport
from erp.core import excel
from erp.core.errors import DomainError
from erp.core.i18n import _l

#: each flag's column header
FLAG_HEADERS = {"liquid": _l("Liquid"), "powder": _l("Powder"), "magnet": _l("Magnet"),
                "flammable": _l("Flammable (perfume)"), "sharp": _l("Sharp")}


def _rule(key: str) -> Callable[[Any], Any]:
    """Return a cell validator applying the forms' rule for one transport attribute."""

    def validate(value: Any) -> Any:
        try:
            return clean_transport({key: value}, allow_cells=True)[key]
        except DomainError as err:
            raise ValueError(str(err).rstrip(".")) from None

    return validate


def transport_columns(*, inherit_from: Any, cells: bool) -> tuple[excel.Column, ...]:
    """Return the transport columns: the battery kind, its cells (``cells``), then the flags.

    :param inherit_from: what an empty cell inherits from, for the help ("the parent category").
    """
    columns = [excel.Column(
        "battery", _l("Battery"), choices=tuple(kind.value for kind in BatteryKind),
        validator=_rule("battery"), width=18,
        help=_l("The lithium battery: none, in_equipment (contained in equipment), "
                "with_equipment (packed with equipment) or alone (a battery or power bank on "
                "its own). Empty: inherit from %(source)s.", source=inherit_from))]
    if cells:
        columns.append(excel.Column(
            "battery_cells", _l("Battery cells"), type="int", validator=_rule("battery_cells"),
            help=_l("Lithium cells in one unit, 1 to 1000; counts only with a battery. Empty: "
                    "1.")))
    columns.extend(excel.Column(
        flag, FLAG_HEADERS[flag], type="bool", validator=_rule(flag),
        help=_l("yes or no. Empty: inherit from %(source)s.", source=inherit_from))
        for flag in TRANSPORT_FLAGS)
    return tuple(columns)


def present_transport(present: Iterable[str], keys: Iterable[str]) -> tuple[str, ...]:
    """Return the transport keys among the columns a file has (the others are left alone)."""
    have = set(present)
    return tuple(key for key in keys if key in have)

