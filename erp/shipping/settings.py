"""Shipping settings: customs thresholds, tax registrations and dutiable destinations.

Values that change over time live here (shared/reference/shipping.md, section 4), never in code.
The SDR (ISO 4217 ``XDR``) rate is an exchange rate kept with the other dated rates.
"""

from __future__ import annotations

from decimal import Decimal

from erp.core.settings import (
    SettingDef,
    _choice,
    _countries,
    _positive_decimal,
    _positive_int,
    _text,
    declare,
)


def _ioss(value: str) -> str:
    text = str(value).strip().upper().replace(" ", "")
    if text and not (len(text) == 12 and text.startswith("IM") and text[2:].isdigit()):
        raise ValueError("must be IM followed by 10 digits (or empty)")
    return text


#: the Incoterms a parcel to a consumer goes under: delivered at place (the buyer pays duties
#: and taxes on arrival) or delivered duty paid (the seller pays them)
INCOTERMS = ("DAP", "DDP")
EU_COUNTRIES = ("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI "
                "SK")

declare(
    SettingDef("cn22_max_sdr", "CN22 value limit (SDR)", _positive_decimal, Decimal("300"),
               "Postal items worth more than this (converted at the XDR exchange rate) take a "
               "CN23 instead of a CN22."),
    SettingDef("cn22_max_weight_g", "CN22 weight limit (g)", _positive_int, 2000,
               "Postal items heavier than this take a CN23."),
    SettingDef("ioss_number", "IOSS number", _ioss, "",
               "IM + 10 digits; put on EU parcels within the IOSS threshold (manifest and "
               "commercial invoice only, never on the label).", optional=True),
    SettingDef("ioss_max_eur", "IOSS threshold (EUR)", _positive_decimal, Decimal("150")),
    SettingDef("eu_countries", "EU member states", _countries, _countries(EU_COUNTRIES),
               "ISO 3166-1 alpha-2 codes; orders to these countries can go under IOSS."),
    SettingDef("uk_vat_number", "UK VAT number", _text, "",
               "Put on UK parcels within the UK threshold.", optional=True),
    SettingDef("uk_max_gbp", "UK low-value threshold (GBP)", _positive_decimal, Decimal("135")),
    SettingDef("dutiable_countries", "Destinations where every parcel is dutiable",
               _countries, _countries("US"),
               "Parcels to these countries are marked dutiable (no de minimis)."),
    SettingDef("eori_number", "Exporter EORI / registration number", _text, "",
               "Printed on commercial invoices.", optional=True),
    SettingDef("incoterm", "Incoterm on commercial invoices (DAP or DDP)", _choice(*INCOTERMS),
               "DAP"),
)
