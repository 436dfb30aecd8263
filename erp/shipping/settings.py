"""Shipping settings: customs thresholds, tax registrations and dutiable destinations.

Values that change over time live here (shared/reference/shipping.md, section 4), never in code.
The SDR (ISO 4217 ``XDR``) rate is an exchange rate kept with the other dated rates.
"""

from __future__ import annotations

from decimal import Decimal

from erp.core.i18n import _, _l
from erp.core.settings import (
    SettingDef,
    _choice,
    _countries,
    _decimal,
    _int,
    _positive_decimal,
    _positive_int,
    _text,
    declare,
)


def _ioss(value: str) -> str:
    text = str(value).strip().upper().replace(" ", "")
    if text and not (len(text) == 12 and text.startswith("IM") and text[2:].isdigit()):
        raise ValueError(_("must be IM followed by 10 digits (or empty)"))
    return text


#: the Incoterms a parcel to a consumer goes under: delivered at place (the buyer pays duties
#: and taxes on arrival) or delivered duty paid (the seller pays them)
INCOTERMS = ("DAP", "DDP")
EU_COUNTRIES = ("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI "
                "SK")

declare(
    SettingDef("cn22_max_sdr", _l("CN22 value limit (SDR)"), _positive_decimal, Decimal("300"),
               _l("Postal items worth more than this (converted at the XDR exchange rate) take "
                  "a CN23 instead of a CN22.")),
    SettingDef("cn22_max_weight_g", _l("CN22 weight limit (g)"), _positive_int, 2000,
               _l("Postal items heavier than this take a CN23.")),
    SettingDef("ioss_number", _l("IOSS number"), _ioss, "",
               _l("IM + 10 digits; put on EU parcels within the IOSS threshold (manifest and "
                  "commercial invoice only, never on the label)."), optional=True),
    SettingDef("ioss_max_eur", _l("IOSS threshold (EUR)"), _positive_decimal, Decimal("150")),
    SettingDef("eu_countries", _l("EU member states"), _countries, _countries(EU_COUNTRIES),
               _l("ISO 3166-1 alpha-2 codes; orders to these countries can go under IOSS.")),
    SettingDef("uk_vat_number", _l("UK VAT number"), _text, "",
               _l("Put on UK parcels within the UK threshold."), optional=True),
    SettingDef("uk_max_gbp", _l("UK low-value threshold (GBP)"), _positive_decimal,
               Decimal("135")),
    SettingDef("dutiable_countries", _l("Destinations where every parcel is dutiable"),
               _countries, _countries("US"),
               _l("Parcels to these countries are marked dutiable (no de minimis).")),
    SettingDef("eori_number", _l("Exporter EORI / registration number"), _text, "",
               _l("Printed on commercial invoices."), optional=True),
    SettingDef("incoterm", _l("Incoterm on commercial invoices (DAP or DDP)"),
               _choice(*INCOTERMS), "DAP"),
)

declare(
    SettingDef("pack_weight_tolerance_pct", _l("Packing weight tolerance (%)"), _decimal,
               Decimal("10"),
               _l("A parcel whose weighed weight differs from the expected one (the goods' "
                  "catalog weights plus the box's tare) by more than this share, and by more "
                  "than the tolerance in grams, is refused: recount it, or confirm an "
                  "override.")),
    SettingDef("pack_weight_tolerance_g", _l("Packing weight tolerance (g)"), _int, 30,
               _l("A difference up to this many grams is always accepted (scales and "
                  "catalog weights are rounded).")),
)

declare(
    SettingDef("bill_weight_tolerance_g", _l("Carrier bill weight tolerance (g)"), _int, 50,
               _l("A billed weight above erp's chargeable weight by up to this many grams is "
                  "not disputed (scales differ).")),
    SettingDef("bill_weight_tolerance_pct", _l("Carrier bill weight tolerance (%)"), _decimal,
               Decimal("5"),
               _l("A billed weight above erp's chargeable weight by more than this share, and "
                  "by more than the tolerance in grams, is disputed.")),
    SettingDef("bill_amount_tolerance", _l("Carrier bill amount tolerance"), _decimal,
               Decimal("0.50"),
               _l("A billed freight amount above the rate table's quote at labelling by up to "
                  "this amount (in the bill's currency) is not disputed.")),
    SettingDef("bill_amount_tolerance_pct", _l("Carrier bill amount tolerance (%)"), _decimal,
               Decimal("2"),
               _l("A billed freight amount above the quote by more than this share, and by "
                  "more than the tolerance amount, is disputed.")),
)
