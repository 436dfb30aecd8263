"""Sign-in and sign-out, throttling and lockout, CSRF, password changes, session expiry."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from erp.core import services
from erp.core.errors import ValidationError
from erp.core.models import LoginAttempt, User
from erp.core.services import (
    ACCOUNT_LOCK_AFTER,
    ADDRESS_LOCK_AFTER,
    ADDRESS_SLOW_AFTER,
    LOGIN_WINDOW,
    SLOW_AFTER,
    LoginThrottled,
)
from erp.extensions import db
from tests.fixtures.core import PASSWORD

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADDRESS = "198.51.100.7"
CSRF_ON = {"WTF_CSRF_ENABLED": True}


def text_of(response) -> str:
    """Return the response body with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def flashes(response) -> list[str]:
    """Return the flashed messages shown on a page."""
    return [html.unescape(m) for m in re.findall(r'<div class="flash flash-\w+">(.*?)</div>',
                                                  response.get_data(as_text=True))]


def csrf_token_from(response) -> str:
    """Return the CSRF token rendered in a page's form."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      response.get_data(as_text=True))
    assert match, "no CSRF token in the page"
    return match.group(1)


def attempts() -> int:
    """Return how many sign-in attempts are recorded."""
    return db.session.scalar(select(func.count()).select_from(LoginAttempt))


def fail_until(count: int, *, username: str = "alice", address: str = ADDRESS,
               start: datetime = T0) -> datetime:
    """Record ``count`` wrong-password attempts, each made as soon as it is allowed.

    :returns: the time of the last failure.
    """
    at, failures = start, 0
    while failures < count:
        if failures >= SLOW_AFTER:
            at += timedelta(seconds=2 ** (failures - SLOW_AFTER + 1), milliseconds=500)
        with pytest.raises(ValidationError, match="Wrong username or password"):
            services.authenticate(username, "wrong-password", address=address, now=at)
        failures += 1
        last = at
        at += timedelta(milliseconds=100)
    return last


# --------------------------------------------------------------------------- sign in (web)


def test_login_success_redirects_home_and_sets_last_login_at(client, create_user, login):
    user = create_user("alice", roles=("warehouse",))
    assert user.last_login_at is None
    before = datetime.now(UTC)

    response = login("alice")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    db.session.expire_all()
    user = db.session.get(User, user.id)
    assert user.last_login_at is not None
    assert before - timedelta(seconds=1) <= user.last_login_at <= datetime.now(UTC)
    home = client.get("/")
    assert home.status_code == 200
    assert "Signed in as alice" in text_of(home)


def test_login_with_same_site_next_redirects_there(client, create_user):
    create_user("alice", roles=("admin",))
    response = client.post("/login?next=/admin/users?q=bob",
                           data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users?q=bob"


@pytest.mark.parametrize("target", ["https://evil.example/steal", "//evil.example/steal",
                                    "javascript:alert(1)", "evil"])
def test_login_with_external_next_ignores_it(client, create_user, target):
    create_user("alice", roles=("admin",))
    response = client.post("/login", query_string={"next": target},
                           data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_wrong_password_refused(client, create_user):
    create_user("alice", roles=("warehouse",))
    response = client.post("/login", data={"username": "alice", "password": "not-it-at-all"})
    assert response.status_code == 200
    assert "Wrong username or password." in text_of(response)
    assert client.get("/").status_code == 302  # still anonymous
    assert db.session.scalar(select(LoginAttempt.success)) is False  # the failure was kept


def test_login_unknown_user_gets_same_message(client, create_user):
    create_user("alice", roles=("warehouse",))
    wrong_pw = client.post("/login", data={"username": "alice", "password": "x" * 12})
    unknown = client.post("/login", data={"username": "nobody", "password": "x" * 12})
    assert wrong_pw.status_code == unknown.status_code == 200
    assert flashes(wrong_pw) == flashes(unknown) == ["Wrong username or password."]


def test_login_deactivated_user_refused_with_message(client, create_user):
    create_user("alice", roles=("warehouse",), active=False)
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert "This account is deactivated. Ask an admin to reactivate it." in text_of(response)
    assert client.get("/").status_code == 302


def test_logout_post_ends_session(client, create_user, login):
    create_user("alice", roles=("warehouse",))
    login("alice")
    assert client.get("/").status_code == 200

    response = client.post("/logout")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    after = client.get("/")
    assert after.status_code == 302
    assert after.headers["Location"].startswith("/login")


def test_logout_by_get_not_allowed(client, create_user, login):
    create_user("alice", roles=("warehouse",))
    login("alice")
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


# --------------------------------------------------------------------------- throttling (service)


def test_authenticate_after_three_failures_immediate_attempt_throttled(create_user):
    create_user("alice", roles=("warehouse",))
    last = fail_until(SLOW_AFTER)

    with pytest.raises(LoginThrottled, match=r"Wait 2 seconds before trying again") as exc:
        services.authenticate("alice", PASSWORD, address=ADDRESS, now=last)
    assert exc.value.status_code == 429


def test_authenticate_after_waiting_past_delay_allowed(create_user):
    create_user("alice", roles=("warehouse",))
    last = fail_until(SLOW_AFTER)
    with pytest.raises(LoginThrottled):
        services.authenticate("alice", PASSWORD, address=ADDRESS,
                              now=last + timedelta(seconds=1))

    user = services.authenticate("alice", PASSWORD, address=ADDRESS,
                                 now=last + timedelta(seconds=2, milliseconds=100))

    assert user.username == "alice"


def test_authenticate_delay_grows_with_each_failure(create_user):
    create_user("alice", roles=("warehouse",))
    last = fail_until(SLOW_AFTER + 1)
    with pytest.raises(LoginThrottled, match="Wait 4 seconds"):
        services.authenticate("alice", PASSWORD, address=ADDRESS, now=last)


def test_authenticate_throttled_attempt_not_recorded(create_user):
    create_user("alice", roles=("warehouse",))
    last = fail_until(SLOW_AFTER)
    before = attempts()

    with pytest.raises(LoginThrottled):
        services.authenticate("alice", "wrong-password", address=ADDRESS, now=last)

    assert attempts() == before == SLOW_AFTER
    # ... so it does not lengthen the wait either: right after the delay the attempt is checked
    assert services.authenticate("alice", PASSWORD, address=ADDRESS,
                                 now=last + timedelta(seconds=3)).username == "alice"


def test_authenticate_locked_account_refuses_right_password(create_user):
    create_user("alice", roles=("warehouse",))
    last = fail_until(ACCOUNT_LOCK_AFTER)

    with pytest.raises(LoginThrottled,
                       match=r"this account\. Sign-in is refused for 15 more minutes") as exc:
        services.authenticate("alice", PASSWORD, address="203.0.113.9",
                              now=last + timedelta(seconds=30))
    assert exc.value.status_code == 429
    with pytest.raises(LoginThrottled, match="refused for 1 more minute;"):
        services.authenticate("alice", PASSWORD, address="203.0.113.9",
                              now=last + LOGIN_WINDOW - timedelta(seconds=60))


def test_authenticate_lock_expires_after_login_window(create_user):
    create_user("alice", roles=("warehouse",))
    last = fail_until(ACCOUNT_LOCK_AFTER)

    user = services.authenticate("alice", PASSWORD, address=ADDRESS,
                                 now=last + LOGIN_WINDOW + timedelta(seconds=1))

    assert user.username == "alice"


def test_authenticate_success_clears_earlier_failures(create_user):
    create_user("alice", roles=("warehouse",))
    last = fail_until(SLOW_AFTER - 1)
    services.authenticate("alice", PASSWORD, address=ADDRESS, now=last + timedelta(seconds=1))
    # two more failures after a success do not reach the slow-down threshold
    for second in (2, 3):
        with pytest.raises(ValidationError):
            services.authenticate("alice", "wrong-password", address=ADDRESS,
                                  now=last + timedelta(seconds=second))
    assert services.authenticate("alice", PASSWORD, address=ADDRESS,
                                 now=last + timedelta(seconds=3)).username == "alice"


def test_authenticate_failures_on_one_account_do_not_slow_another(create_user):
    create_user("alice", roles=("warehouse",))
    create_user("bob", roles=("warehouse",))
    last = fail_until(ACCOUNT_LOCK_AFTER, username="alice", address="203.0.113.1")
    assert services.authenticate("bob", PASSWORD, address="203.0.113.2",
                                 now=last).username == "bob"


def test_authenticate_few_failures_from_shared_address_do_not_slow_colleague(create_user):
    # an office behind one address: colleagues' typos must not slow everyone down
    create_user("alice", roles=("warehouse",))
    for i in range(ADDRESS_SLOW_AFTER - 1):
        create_user(f"colleague{i}", roles=("warehouse",))
        with pytest.raises(ValidationError):
            services.authenticate(f"colleague{i}", "wrong-password", address=ADDRESS,
                                  now=T0 + timedelta(seconds=i))
    now = T0 + timedelta(seconds=ADDRESS_SLOW_AFTER - 1)
    assert services.authenticate("alice", PASSWORD, address=ADDRESS, now=now).username == "alice"


def test_authenticate_address_with_many_failures_locked_for_every_username(create_user):
    # e.g. parallel requests from one address spraying many usernames
    create_user("alice", roles=("warehouse",))
    now = T0 + timedelta(minutes=5)
    for i in range(ADDRESS_LOCK_AFTER):
        db.session.add(LoginAttempt(username=f"guess{i}", address=ADDRESS, success=False,
                                    at=now - timedelta(seconds=ADDRESS_LOCK_AFTER - i)))
    db.session.flush()

    with pytest.raises(LoginThrottled, match=r"your address\. Sign-in is refused for"):
        services.authenticate("alice", PASSWORD, address=ADDRESS, now=now)
    assert services.authenticate("alice", PASSWORD, address="203.0.113.50",
                                 now=now).username == "alice"


def test_authenticate_failures_across_usernames_lock_address(create_user):
    create_user("alice", roles=("warehouse",))
    for i in range(ADDRESS_LOCK_AFTER + 1):  # real accounts: unknown names cost a full scrypt
        create_user(f"staff{i}", roles=("warehouse",))
    at, failures, locked = T0, 0, False
    for i in range(10 * ADDRESS_LOCK_AFTER):
        if at > T0 + LOGIN_WINDOW:
            break
        try:
            services.authenticate(f"staff{i % (ADDRESS_LOCK_AFTER + 1)}", "wrong-password",
                                  address=ADDRESS, now=at)
        except LoginThrottled as err:
            if "refused" in str(err):
                locked = True
                break
            at += timedelta(seconds=int(re.search(r"Wait (\d+) seconds?", str(err)).group(1)))
        except ValidationError:
            failures += 1
            at += timedelta(seconds=1)
    assert locked, f"{failures} failures from one address within the window, never locked"
    assert failures == ADDRESS_LOCK_AFTER
    with pytest.raises(LoginThrottled, match="your address"):
        services.authenticate("alice", PASSWORD, address=ADDRESS, now=at)


# --------------------------------------------------------------------------- throttling (web)


def test_login_view_throttled_shows_wait_with_status_429(client, create_user):
    create_user("alice", roles=("warehouse",))
    for _ in range(SLOW_AFTER):
        response = client.post("/login", data={"username": "alice", "password": "wrong-one!"})
        assert response.status_code == 200

    response = client.post("/login", data={"username": "alice", "password": PASSWORD})

    assert response.status_code == 429
    assert re.search(r"Too many failed sign-ins for this account\. Wait \d seconds?",
                     text_of(response))
    assert client.get("/").status_code == 302
    assert attempts() == SLOW_AFTER


def test_login_view_locked_account_shows_minutes_with_status_429(client, create_user):
    create_user("alice", roles=("warehouse",))
    now = datetime.now(UTC)
    for i in range(ACCOUNT_LOCK_AFTER):
        db.session.add(LoginAttempt(username="alice", address="203.0.113.1", success=False,
                                    at=now - timedelta(seconds=60 - i)))
    db.session.commit()

    response = client.post("/login", data={"username": "alice", "password": PASSWORD})

    assert response.status_code == 429
    assert re.search(r"Sign-in is refused for 1[45] more minutes", text_of(response))
    assert client.get("/").status_code == 302


# --------------------------------------------------------------------------- CSRF


@pytest.mark.parametrize("app_config", [CSRF_ON], ids=["csrf"])
def test_login_post_without_csrf_token_refused(client, create_user):
    create_user("alice", roles=("warehouse",))
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "security token" in text_of(response)
    assert attempts() == 0
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("app_config", [CSRF_ON], ids=["csrf"])
def test_login_post_with_csrf_token_from_page_signs_in(client, create_user):
    create_user("alice", roles=("warehouse",))
    token = csrf_token_from(client.get("/login"))
    response = client.post("/login", data={"username": "alice", "password": PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("app_config", [CSRF_ON], ids=["csrf"])
def test_logout_without_csrf_token_keeps_session(client, create_user):
    create_user("alice", roles=("warehouse",))
    token = csrf_token_from(client.get("/login"))
    client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200


# --------------------------------------------------------------------------- passwords


def test_must_change_password_user_redirected_everywhere_until_changed(client, create_user,
                                                                       login):
    create_user("alice", roles=("admin",), must_change_password=True)
    response = login("alice")
    assert response.status_code == 302
    for path in ("/", "/admin/users", "/audit", "/settings"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/account/password", path
    page = client.get("/account/password")
    assert page.status_code == 200
    assert "Please choose a new password before you go on." in text_of(page)

    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "a-brand-new-secret",
        "confirm": "a-brand-new-secret"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/admin/users").status_code == 200
    assert db.session.scalar(select(User.must_change_password)
                             .where(User.username == "alice")) is False


def test_change_own_password_wrong_current_refused(client, create_user, login):
    user = create_user("alice", roles=("warehouse",))
    old_hash = user.password_hash
    login("alice")
    response = client.post("/account/password", data={
        "current_password": "not-my-password", "new_password": "a-brand-new-secret",
        "confirm": "a-brand-new-secret"})
    assert response.status_code == 200
    assert "The current password is not correct." in text_of(response)
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == old_hash


def test_change_own_password_too_short_refused(client, create_user, login):
    user = create_user("alice", roles=("warehouse",))
    old_hash = user.password_hash
    login("alice")
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "short", "confirm": "short"})
    assert response.status_code == 200
    assert "A password must have at least 10 characters." in text_of(response)
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == old_hash


def test_change_own_password_mismatch_refused(client, create_user, login):
    user = create_user("alice", roles=("warehouse",))
    old_hash = user.password_hash
    login("alice")
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "a-brand-new-secret",
        "confirm": "a-brand-new-secreT"})
    assert response.status_code == 200
    assert "The two new passwords differ." in text_of(response)
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == old_hash


def test_change_own_password_success_replaces_old_password(client, create_user, login):
    create_user("alice", roles=("warehouse",))
    login("alice")
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "a-brand-new-secret",
        "confirm": "a-brand-new-secret"})
    assert response.status_code == 302
    client.post("/logout")

    old = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert old.status_code == 200
    assert "Wrong username or password." in text_of(old)
    new = client.post("/login", data={"username": "alice", "password": "a-brand-new-secret"})
    assert new.status_code == 302
    assert client.get("/").status_code == 200


# --------------------------------------------------------------------------- session expiry


def test_session_idle_longer_than_lifetime_redirects_to_login(app, client, create_user, login):
    create_user("alice", roles=("warehouse",))
    login("alice")
    assert client.get("/").status_code == 200
    lifetime = app.permanent_session_lifetime.total_seconds()
    with client.session_transaction() as sess:
        sess["last_seen"] = datetime.now(UTC).timestamp() - lifetime - 5

    response = client.get("/admin/users?q=x")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    page = client.get(response.headers["Location"])
    assert "Your session expired after inactivity. Please sign in again." in text_of(page)
    assert client.get("/").status_code == 302  # signed out, not just bounced once


def test_session_idle_within_lifetime_kept(app, client, create_user, login):
    create_user("alice", roles=("warehouse",))
    login("alice")
    client.get("/")
    lifetime = app.permanent_session_lifetime.total_seconds()
    with client.session_transaction() as sess:
        sess["last_seen"] = datetime.now(UTC).timestamp() - lifetime + 30
    assert client.get("/").status_code == 200
