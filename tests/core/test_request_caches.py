"""What a page keeps from one request to the next is never stale (issue 22).

The menus (and their HTML) are kept on the app per permissions, language and opened links, and
a signed-in request reads the company language and the base currency with its session. Each
change below must show at the very next request, in the worker that made it and in another
one: "another worker" is a second ``create_app()`` on the same database, whose caches the
change never touched, so only the database can tell it.
"""

from __future__ import annotations

import contextlib

import pytest
from flask import request_finished, template_rendered, url_for

from erp import create_app
from erp.core import services
from erp.core.models import Role
from erp.extensions import db
from tests.conftest import BASE_CONFIG
from tests.fixtures.core import PASSWORD

CHINESE_HOME = "首页"  # "Home" in the Chinese catalog


@pytest.fixture
def other_app(app):
    """Return a second app (another worker) on the test's database."""
    other = create_app({**BASE_CONFIG,
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    yield other
    with other.app_context():  # close its connections (PostgreSQL would warn on GC)
        db.session.remove()
        db.engine.dispose()


def done(response):
    """Return ``response`` once its request's transaction is over.

    The test's app context is shared by the requests of the fixture's app, so their session
    outlives them: end its transaction as the end of the request would (a POST's would keep
    SQLite's write lock from the other app).
    """
    db.session.rollback()
    return response


def signed_in(app, username: str):
    """Return a test client of ``app`` signed in as ``username`` (a session of its own)."""
    client = app.test_client()
    response = done(client.post("/login", data={"username": username, "password": PASSWORD}))
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def page(client, path: str = "/") -> str:
    response = done(client.get(path))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def menus(html: str) -> str:
    """Return the main menus of a page."""
    return html.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]


@contextlib.contextmanager
def rendered(app):
    """Collect the context of each template ``app`` renders."""
    seen: list[dict] = []

    def record(sender, template, context, **extra):
        seen.append(context)

    template_rendered.connect(record, app)
    try:
        yield seen
    finally:
        template_rendered.disconnect(record, app)


def test_a_role_change_shows_in_the_menus_at_the_next_request_of_every_worker(
        app, other_app, create_user, dummy_admin):
    with app.test_request_context():
        users, put_away = url_for("core.user_list"), url_for("warehouse.put_away_stock")
    user = create_user("wendy", roles=("warehouse",))
    here, there = signed_in(app, "wendy"), signed_in(other_app, "wendy")
    for client in (here, there):
        nav = menus(page(client))
        assert f'href="{users}"' not in nav
        assert f'href="{put_away}"' in nav

    services.update_user(user, full_name=user.full_name, email=None,
                         roles=["warehouse", "admin"], active=True, actor=dummy_admin)
    db.session.commit()
    for client in (here, there):
        nav = menus(page(client))
        assert f'href="{users}"' in nav
        assert f'href="{put_away}"' in nav

    services.update_user(user, full_name=user.full_name, email=None, roles=["purchasing"],
                         active=True, actor=dummy_admin)
    db.session.commit()
    for client in (here, there):
        nav = menus(page(client))
        assert f'href="{users}"' not in nav
        assert f'href="{put_away}"' not in nav
        assert "Purchasing" in nav


def test_a_permission_refused_by_the_new_roles_is_refused_at_once(app, other_app, create_user,
                                                                   dummy_admin):
    user = create_user("carl", roles=("admin",))
    here, there = signed_in(app, "carl"), signed_in(other_app, "carl")
    for client in (here, there):
        assert done(client.get("/admin/users")).status_code == 200
    services.update_user(user, full_name=user.full_name, email=None,
                         roles=[Role.customer_service.value], active=True, actor=dummy_admin)
    db.session.commit()
    for client in (here, there):
        assert done(client.get("/admin/users")).status_code == 403
        assert "/admin/users" not in menus(page(client, "/orders/"))


def test_a_language_change_gives_the_next_page_in_that_language_in_every_worker(
        app, other_app, create_user):
    user = create_user("lin", roles=("manager",))
    here, there = signed_in(app, "lin"), signed_in(other_app, "lin")
    for client in (here, there):
        assert CHINESE_HOME not in menus(page(client))

    services.set_language(user, "zh_Hans_CN")
    db.session.commit()
    for client in (here, there):
        html = page(client)
        assert CHINESE_HOME in menus(html)
        assert '<html lang="zh-Hans">' in html

    services.set_language(user, "en")
    db.session.commit()
    for client in (here, there):
        html = page(client)
        assert CHINESE_HOME not in menus(html)
        assert '<html lang="en">' in html


def test_the_company_language_is_read_afresh_by_the_next_request_of_every_worker(
        app, other_app, create_user):
    create_user("nolang", roles=("warehouse",))  # no language of their own, nor a browser's
    here, there = signed_in(app, "nolang"), signed_in(other_app, "nolang")
    for client in (here, there):
        assert CHINESE_HOME not in menus(page(client))

    services.update_settings({"default_language": "zh_Hans_CN"}, actor=None)
    db.session.commit()
    for client in (here, there):
        assert CHINESE_HOME in menus(page(client))

    services.update_settings({"default_language": "en"}, actor=None)
    db.session.commit()
    for client in (here, there):
        assert CHINESE_HOME not in menus(page(client))


def test_the_base_currency_of_the_home_page_is_read_afresh_by_every_worker(
        app, other_app, create_user):
    create_user("mona", roles=("manager",))  # the manager's cards show amounts
    here, there = signed_in(app, "mona"), signed_in(other_app, "mona")
    for flask_app, client in ((app, here), (other_app, there)):
        with rendered(flask_app) as seen:
            page(client)
        assert seen[-1]["base"] == "USD"

    services.update_settings({"base_currency": "EUR"}, actor=None)
    db.session.commit()
    for flask_app, client in ((app, here), (other_app, there)):
        with rendered(flask_app) as seen:
            page(client)
        assert seen[-1]["base"] == "EUR"


def test_a_request_that_changes_the_settings_reads_the_new_values_after(app, create_user):
    from erp.core import sessions
    create_user("sam", roles=("admin",))
    client = signed_in(app, "sam")
    with app.test_request_context("/"):
        app.preprocess_request()  # no cookie: nothing was read with a session
        assert sessions.page_setting("base_currency") == "USD"
    seen = []

    def spy(sender, response, **extra):
        from flask import request
        if request.path == "/settings-probe-not-a-page":
            seen.append(sessions.page_setting("base_currency"))
            services.update_settings({"base_currency": "JPY"}, actor=None)
            seen.append(sessions.page_setting("base_currency"))
            db.session.rollback()
            seen.append(sessions.page_setting("base_currency"))

    request_finished.connect(spy, app)
    try:
        done(client.get("/settings-probe-not-a-page"))
    finally:
        request_finished.disconnect(spy, app)
    assert seen == ["USD", "JPY", "USD"]


def test_the_menus_html_follows_the_opened_page(app, create_user):
    create_user("ida", roles=("manager",))
    client = signed_in(app, "ida")
    home, skus = menus(page(client)), menus(page(client, "/catalog/skus"))
    assert 'href="/" class="active"' in home
    assert 'href="/" class="active"' not in skus
    assert 'href="/catalog/skus" class="active"' in skus
    assert 'href="/catalog/skus" class="active"' not in home
    assert menus(page(client)) == home  # kept, and still the home page's
