"""The shipping rules of a version as a workbook: export, and import into a draft.

One row per rule, in order; lists (countries, postcode prefixes, goods attributes, SKU and
brand codes, services) are comma-separated. An import replaces every rule of the draft, all or
nothing, after a dry run if wished: each error names its row, column and reason. An exported
sheet imports again unchanged.
"""

from __future__ import annotations

from typing import Any

from erp.core import excel
from erp.core.errors import DomainError
from erp.core.i18n import _, _l
from erp.extensions import db
from erp.shipping.routing_models import RuleVersion
from erp.shipping.services import routing_rules

RULE_SPEC = excel.Spec(
    name="shipping-rules",
    title=_l("Shipping rules"),
    columns=(
        excel.Column("name", _l("Rule"), required=True, width=24,
                     help=_l("The rule's name; rows are tried from the top, the first whose "
                          "conditions all hold (and that can carry the parcel) wins.")),
        excel.Column("countries", _l("Countries"), width=16,
                     help=_l("Destination countries, comma-separated ISO codes (US, CA); "
                          "empty: any.")),
        excel.Column("regions", _l("Regions"), width=14,
                     help=_l("Regions or states as the orders write them (CA, NY); empty: any.")),
        excel.Column("postcode_prefixes", _l("Postcode prefixes"), width=14,
                     help=_l("Postcodes starting with one of these (comma-separated); empty: "
                          "any.")),
        excel.Column("min_weight_g", _l("Min weight (g)"), type="int", width=12,
                     help=_l("The goods weigh at least this many grams.")),
        excel.Column("max_weight_g", _l("Max weight (g)"), type="int", width=12,
                     help=_l("The goods weigh at most this many grams.")),
        excel.Column("min_value", _l("Min value"), type="decimal", width=12,
                     help=_l("The goods are worth at least this much (in the value currency).")),
        excel.Column("max_value", _l("Max value"), type="decimal", width=12,
                     help=_l("The goods are worth at most this much.")),
        excel.Column("value_currency", _l("Value currency"), width=10,
                     help=_l("ISO 4217 code of the value limits, e.g. USD.")),
        excel.Column("goods_required", _l("Goods with any of"), width=20,
                     help=_l("Goods attributes (battery_in_equipment, liquid, ...): the order "
                          "has at least one.")),
        excel.Column("goods_excluded", _l("Goods with none of"), width=20,
                     help=_l("Goods attributes the order must not have.")),
        excel.Column("service_class", _l("Service class"), width=12,
                     help=_l("economy, standard or express, as the storefront asked; empty: "
                          "any.")),
        excel.Column("sku_codes", _l("SKU codes"), width=18,
                     help=_l("The order holds one of these SKUs; empty: any.")),
        excel.Column("brand_codes", _l("Brand codes"), width=14,
                     help=_l("The order holds goods of one of these brands; empty: any.")),
        excel.Column("services", _l("Services"), required=True, width=22,
                     help=_l("Service codes, comma-separated: the cheapest that can carry the "
                          "parcel is chosen.")),
    ),
)
HEADERS = {column.key: column.header for column in RULE_SPEC.columns}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def export_rules(version: RuleVersion) -> bytes:
    """Return the version's rules as a workbook, in order."""
    rows = []
    for rule in version.rules:
        row = {key: getattr(rule, key) for key in HEADERS if key != "services"}
        row["service_class"] = rule.service_class.value if rule.service_class else None
        row["services"] = ", ".join(link.service.code for link in rule.services)
        rows.append(row)
    return excel.export_workbook(RULE_SPEC, rows)


def template() -> bytes:
    """Return the empty rules workbook with its Help sheet."""
    return excel.template_workbook(RULE_SPEC)


def import_rules(version: RuleVersion, data: bytes, *, filename: str = "shipping-rules.xlsx",
                 dry_run: bool, actor) -> excel.ImportResult:
    """Check a rules workbook and, unless ``dry_run``, replace the draft's rules with it.

    All or nothing, in a savepoint; never commits.

    :raises ShippingError: when the version is not a draft.
    """
    routing_rules._check_draft(version)

    def validate_row(row: dict[str, Any]) -> list[excel.CellError]:
        values = {key: _text(row.get(key)) for key in HEADERS}
        try:
            row["_clean"] = routing_rules.clean_rule(values)
        except DomainError as err:
            column = HEADERS.get(err.field or "", "")
            return [excel.CellError(row["_row"], str(column),
                                    str(err).rstrip(".。"))]
        return []

    def apply(rows: list[dict[str, Any]]) -> dict[str, int]:
        if not rows:
            raise excel.RowError(_("The file has no rule."))
        count = routing_rules.replace_rules(version, [row["_clean"] for row in rows],
                                            actor=actor)
        return {"created": count, "updated": 0, "skipped": 0}

    return excel.run_import(data, RULE_SPEC, filename=filename, dry_run=dry_run,
                            validate_row=validate_row, apply=apply,
                            transaction=db.session.begin_nested)
