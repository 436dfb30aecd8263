"""Two languages: catalog completeness, the choice of language, locale formatting."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask_babel import force_locale

from erp.core import catalogs, settings
from erp.core.i18n import format_date, format_datetime, format_money, format_number
from erp.core.models import Setting, User
from erp.extensions import db


def test_chinese_catalog_is_complete_and_current():
    """A new English string cannot land without its Chinese.

    No entry untranslated, fuzzy, missing from the catalog or left there after the code
    dropped it, and every placeholder of the English is in the Chinese.
    """
    found = catalogs.problems("zh_Hans_CN")
    assert not found, f"{len(found)} catalog problems (python -m erp.core.catalogs sync, " \
        "then translate; see docs/glossary.md):\n" + "\n".join(found[:40])


def test_problems_names_an_untranslated_entry(tmp_path, monkeypatch):
    """The completeness check is not blind: an emptied translation is reported."""
    source = catalogs.read(catalogs.po_path("zh_Hans_CN"), "zh_Hans_CN")
    message = next(m for m in source if m.id == "Language changed.")
    message.string = ""
    path = tmp_path / "messages.po"
    catalogs.write(source, str(path))
    monkeypatch.setattr(catalogs, "po_path", lambda lang: str(path))

    assert "untranslated: 'Language changed.'" in catalogs.problems("zh_Hans_CN")


def _home_lang(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return page.split('<html lang="', 1)[1].split('"', 1)[0]


def test_browser_language_decides_until_the_user_chooses(client, login_as):
    user = login_as("warehouse")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9,en;q=0.8"
    assert _home_lang(client) == "zh-Hans"

    response = client.post("/account/language", data={"language": "en", "next": "/"})

    assert response.status_code == 302
    assert db.session.get(User, user.id).language == "en"
    assert _home_lang(client) == "en"


def test_company_default_applies_without_a_browser_preference(app, client, login_as):
    login_as("manager")
    assert _home_lang(client) == "en"
    db.session.add(Setting(key="default_language", value="zh_Hans_CN"))
    db.session.commit()

    assert _home_lang(client) == "zh-Hans"
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-GB"
    assert _home_lang(client) == "en"


def test_switching_language_refuses_an_unknown_one(client, login_as):
    user = login_as("purchasing")

    response = client.post("/account/language", data={"language": "fr", "next": "/"},
                           follow_redirects=True)

    assert "Choose one of the languages offered, not fr." in response.get_data(as_text=True)
    assert db.session.get(User, user.id).language is None


def test_switching_language_goes_back_only_to_this_site(client, login_as):
    login_as("purchasing")

    response = client.post("/account/language",
                           data={"language": "zh_Hans_CN", "next": "https://evil.example/"})

    assert response.headers["Location"] == "/"


def test_the_flash_after_switching_is_in_the_new_language(client, login_as):
    login_as("customer_service")

    page = client.post("/account/language", data={"language": "zh_Hans_CN", "next": "/"},
                       follow_redirects=True).get_data(as_text=True)

    assert "语言已切换。" in page


@pytest.mark.parametrize(("lang", "value", "currency", "places", "expected"), [
    ("en", Decimal("198"), "USD", None, "198.00 USD"),
    ("en", Decimal("4800"), "JPY", None, "4,800 JPY"),
    ("en", Decimal("1234.5"), "CNY", None, "1,234.50 CNY"),
    ("en", Decimal("12.34567"), "USD", 4, "12.3457 USD"),
    ("en", Decimal("198"), "USD", 4, "198.00 USD"),
    ("en", Decimal("-1000"), "CNY", 0, "-1,000 CNY"),
    ("en", Decimal("0.125"), None, None, "0.13"),
    ("zh_Hans_CN", Decimal("4800"), "CNY", None, "4,800.00 CNY"),
    ("en", Decimal("1.5"), "KWD", None, "1.500 KWD"),
])
def test_money_has_the_currency_minor_units(app, lang, value, currency, places, expected):
    with app.test_request_context(), force_locale(lang):
        assert format_money(value, currency, places) == expected


def test_numbers_and_dates_follow_the_locale(app):
    moment = datetime(2026, 12, 7, 9, 5, 30, tzinfo=UTC)
    with app.test_request_context():
        with force_locale("en"):
            assert format_number(12345) == "12,345"
            assert format_date(date(2026, 12, 7)) == "2026-12-07"
            assert format_datetime(moment) == "2026-12-07 09:05 UTC"
            assert format_datetime(moment, "%Y-%m-%d %H:%M:%S") == "2026-12-07 09:05:30 UTC"
        with force_locale("zh_Hans_CN"):
            assert format_date(date(2026, 12, 7)) == "2026年12月7日"
            assert format_datetime(moment) == "2026年12月7日 09:05 UTC"
            assert format_number(Decimal("1.5"), 3) == "1.500"


def test_default_language_setting_refuses_other_languages(app):
    with pytest.raises(ValueError, match="must be one of"):
        settings.SETTINGS["default_language"].parse("fr")
    assert settings.SETTINGS["default_language"].parse("ZH_HANS_CN") == "zh_Hans_CN"


def test_favicon_is_served_without_sign_in_and_named_by_every_page(client, login_as):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an .ico file

    login_as("warehouse")
    page = client.get("/").get_data(as_text=True)
    assert 'rel="icon" href="/static/favicon.svg"' in page
    with client.get("/static/favicon.svg") as svg:
        assert svg.status_code == 200
