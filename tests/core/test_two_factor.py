"""Two-factor sign-in (TOTP, RFC 6238).

Enrolment, the code step, reuse, lock-out, recovery codes, the roles that must enrol, and an
admin's reset.
"""

from __future__ import annotations

import hashlib
import html
import re
import time
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from erp.core import services, settings, twofactor
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent, LoginAttempt, RecoveryCode, UserSession, utcnow
from erp.core.services import LoginThrottled
from erp.core.views import PENDING_KEY
from erp.extensions import db
from tests.fixtures.core import PASSWORD, totp_code


@pytest.fixture
def app_config():
    """Switch the roles' two-factor rule on (the suite's BASE_CONFIG has it off)."""
    return {"ERP_TWO_FACTOR_REQUIRED": True}


def text_of(response) -> str:
    """Return the response body with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def events(action: str) -> list[AuditEvent]:
    """Return the audit events of ``action``."""
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def attempts(username: str, success: bool) -> int:
    """Return how many sign-in attempts of ``username`` succeeded (or failed)."""
    return db.session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == username, LoginAttempt.success.is_(success)))


def password_step(client, username: str):
    """Post the password; return the answer (a redirect to the code step for enrolled users)."""
    return client.post("/login", data={"username": username, "password": PASSWORD})


def test_enrolment_shows_the_qr_code_and_key_and_needs_a_confirmation_code(client, create_user,
                                                                           login):
    user = create_user("wes", roles=("warehouse",))
    login("wes")

    page = client.get("/account/two-factor/enrol")

    assert page.status_code == 200
    body = text_of(page)
    assert 'src="data:image/svg+xml' in body
    with client.session_transaction() as sess:
        secret = sess["erp_totp_pending"]
    key = re.search(r'<code class="totp-key">([A-Z2-7 ]+)</code>', body).group(1)
    assert key.replace(" ", "") == secret
    # a wrong code turns nothing on
    wrong = client.post("/account/two-factor/enrol", data={"code": "000000"
                        if pyotp.TOTP(secret).now() != "000000" else "111111"})
    assert wrong.status_code == 200
    assert "The code does not match" in text_of(wrong)
    db.session.refresh(user)
    assert not user.totp_enabled
    assert user.totp_secret is None
    # the right code: on, and ten recovery codes shown once, stored hashed
    done = client.post("/account/two-factor/enrol", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    shown = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", text_of(done))
    assert len(shown) == 10
    db.session.refresh(user)
    assert user.totp_enabled
    assert user.totp_secret == secret
    stored = set(db.session.scalars(select(RecoveryCode.code_hash)
                                    .where(RecoveryCode.user_id == user.id)))
    assert stored == {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in shown}
    assert not stored & set(shown)
    [event] = events("user.two_factor_enabled")
    assert event.actor_id == user.id
    # the pending secret left the cookie; the page now says it is on
    with client.session_transaction() as sess:
        assert "erp_totp_pending" not in sess
    assert client.get("/account/two-factor/enrol").status_code == 302


def test_sign_in_with_a_good_code(client, create_user, enrol):
    user = create_user("mia", roles=("manager",))
    secret, _codes = enrol(user)

    first = password_step(client, "mia")

    assert first.status_code == 302
    assert first.location.endswith("/login/code")
    # half signed in: no page opens yet
    assert client.get("/").status_code == 302
    page = client.get("/login/code")
    assert 'inputmode="numeric"' in text_of(page)
    assert "autofocus" in text_of(page)
    done = client.post("/login/code", data={"code": totp_code(user)})
    assert done.status_code == 302
    assert done.location.endswith("/")
    assert client.get("/").status_code == 200
    assert attempts("mia", True) == 1
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 1


def test_a_reused_code_is_refused_within_its_time_step(client, create_user, enrol):
    user = create_user("mia", roles=("manager",))
    secret, _codes = enrol(user)
    code = totp_code(user)
    password_step(client, "mia")
    assert client.post("/login/code", data={"code": code}).status_code == 302
    client.post("/logout")

    password_step(client, "mia")
    again = client.post("/login/code", data={"code": code})

    assert again.status_code == 200
    assert "already used" in text_of(again)
    assert client.get("/").status_code == 302
    assert attempts("mia", False) == 1


def test_the_same_code_twice_at_the_service_passes_once(app, create_user, enrol):
    user = create_user("mia", roles=("manager",))
    enrol(user)
    code = totp_code(user)

    assert twofactor.verify_sign_in_code(user, code, address="10.0.0.1") == "totp"
    with pytest.raises(ValidationError):
        twofactor.verify_sign_in_code(user, code, address="10.0.0.1")


def test_wrong_codes_count_toward_the_lock_out_and_a_locked_account_gets_no_check(
        app, create_user, enrol):
    user = create_user("mia", roles=("manager",))
    enrol(user)
    step_before = user.totp_last_step
    start = utcnow()
    for i in range(services.ACCOUNT_LOCK_AFTER):
        with pytest.raises(ValidationError):
            # 31 s apart: each waits out the growing delay, so all six are checked
            twofactor.verify_sign_in_code(user, "999999" if i % 2 else "000000",
                                          address=f"10.0.0.{i}",
                                          now=start + timedelta(seconds=31 * i))
        db.session.commit()
    assert attempts("mia", False) == services.ACCOUNT_LOCK_AFTER
    now = start + timedelta(seconds=31 * services.ACCOUNT_LOCK_AFTER)

    # locked: even the right code is not checked, and nothing is recorded or claimed
    with pytest.raises(LoginThrottled, match="refused"):
        twofactor.verify_sign_in_code(user, totp_code(user), address="10.0.0.99", now=now)
    # and the password is refused too (the same throttle)
    with pytest.raises(LoginThrottled):
        services.authenticate("mia", PASSWORD, address="10.0.0.98", now=now)
    db.session.refresh(user)
    assert user.totp_last_step == step_before
    assert attempts("mia", False) == services.ACCOUNT_LOCK_AFTER
    assert attempts("mia", True) == 0


def test_a_wrong_code_is_a_failed_attempt_and_the_right_password_does_not_clear_it(
        client, create_user, enrol):
    user = create_user("mia", roles=("manager",))
    enrol(user)
    password_step(client, "mia")

    wrong = client.post("/login/code", data={"code": "12345"})

    assert wrong.status_code == 200
    assert attempts("mia", False) == 1
    # the right password again records no success, so the wrong code still counts
    assert password_step(client, "mia").status_code == 302
    assert attempts("mia", True) == 0
    assert services.throttle_state(LoginAttempt.username, "mia", services.SLOW_AFTER,
                                   services.ACCOUNT_LOCK_AFTER, utcnow()).failures == 1


def test_the_code_step_is_throttled_like_the_password(client, create_user, enrol):
    user = create_user("mia", roles=("manager",))
    enrol(user)
    password_step(client, "mia")
    for _ in range(services.SLOW_AFTER):
        client.post("/login/code", data={"code": "000001"})

    throttled = client.post("/login/code", data={"code": totp_code(user)})

    assert throttled.status_code == 429
    assert "Too many failed sign-ins" in text_of(throttled)
    assert client.get("/").status_code == 302


def test_the_code_step_expires(client, create_user, enrol):
    user = create_user("mia", roles=("manager",))
    enrol(user)
    password_step(client, "mia")
    with client.session_transaction() as sess:
        sess[PENDING_KEY] = {**sess[PENDING_KEY], "until": time.time() - 1}

    late = client.post("/login/code", data={"code": totp_code(user)})

    assert late.status_code == 302
    assert "/login" in late.location
    assert client.get("/").status_code == 302
    db.session.refresh(user)
    assert attempts("mia", True) == 0


def test_a_recovery_code_signs_in_once(client, create_user, enrol):
    user = create_user("mia", roles=("manager",))
    _secret, codes = enrol(user)
    password_step(client, "mia")

    done = client.post("/login/code", data={"code": codes[3].upper().replace("-", " ")})

    assert done.status_code == 302
    assert "9 are left" in text_of(client.get("/"))
    assert len(events("user.recovery_code_used")) == 1
    client.post("/logout")
    password_step(client, "mia")
    again = client.post("/login/code", data={"code": codes[3]})
    assert again.status_code == 200
    assert "already used" in text_of(again)
    # another one still works
    assert client.post("/login/code", data={"code": codes[4]}).status_code == 302


def test_new_recovery_codes_replace_the_old_ones(client, create_user, enrol, login):
    user = create_user("mia", roles=("manager",))
    _secret, old = enrol(user)
    login("mia")

    page = client.post("/account/two-factor/recovery-codes", data={"code": totp_code(user)})

    assert page.status_code == 200
    new = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", text_of(page))
    assert len(new) == 10
    assert not set(new) & set(old)
    assert twofactor.recovery_codes_left(user) == 10
    assert not db.session.scalar(select(RecoveryCode).where(
        RecoveryCode.code_hash == twofactor.hash_recovery_code(old[0])))
    assert len(events("user.recovery_codes_regenerated")) == 1


def test_a_role_that_requires_it_is_sent_to_enrolment(client, create_user, login):
    create_user("mia", roles=("manager",))
    create_user("wes", roles=("warehouse",))

    assert login("mia").status_code == 302  # signed in by the password ...
    home = client.get("/")
    assert home.status_code == 302
    assert home.location.endswith("/account/two-factor/enrol")
    assert client.get("/orders/").status_code == 302
    page = client.get("/account/two-factor/enrol")
    assert page.status_code == 200
    assert "Your role requires two-factor" in text_of(page)
    client.post("/logout")

    # warehouse staff are not required by default ...
    login("wes")
    assert client.get("/").status_code == 200
    # ... until the setting names their role
    services.update_settings({"two_factor_roles": "admin manager warehouse"}, actor=None)
    db.session.commit()
    assert client.get("/").location.endswith("/account/two-factor/enrol")


def test_the_rule_is_off_when_the_config_says_so(app, client, create_user, login):
    create_user("mia", roles=("manager",))
    app.config["ERP_TWO_FACTOR_REQUIRED"] = False
    login("mia")
    assert client.get("/").status_code == 200


def test_turning_it_off_needs_a_code_and_a_role_that_does_not_require_it(client, create_user,
                                                                        enrol, login):
    wes = create_user("wes", roles=("warehouse",))
    enrol(wes)
    login("wes")

    assert client.post("/account/two-factor/disable", data={"code": "000000"}).status_code == 302
    db.session.refresh(wes)
    assert wes.totp_enabled
    client.post("/account/two-factor/disable", data={"code": totp_code(wes)})
    db.session.refresh(wes)
    assert not wes.totp_enabled
    assert wes.totp_secret is None
    assert twofactor.recovery_codes_left(wes) == 0
    assert len(events("user.two_factor_disabled")) == 1

    mia = create_user("mia", roles=("manager",))
    enrol(mia)
    from erp.core.errors import DomainError
    with pytest.raises(DomainError, match="no role that requires it"):
        twofactor.disable_two_factor(mia, totp_code(mia), address="x")


def test_an_admin_resets_a_second_factor_and_ends_the_users_sessions(app, client, create_user,
                                                                    enrol, login):
    mia = create_user("mia", roles=("manager",))
    enrol(mia)
    admin = create_user("boss", roles=("admin",))
    enrol(admin)
    login("mia")
    assert client.get("/").status_code == 200
    admin_client = app.test_client()
    admin_client.post("/login", data={"username": "boss", "password": PASSWORD})
    admin_client.post("/login/code", data={"code": totp_code(admin)})
    assert "Reset second factor" in text_of(admin_client.get("/admin/users"))
    assert "Reset second factor" in text_of(admin_client.get(f"/admin/users/{mia.id}/edit"))

    done = admin_client.post(f"/admin/users/{mia.id}/two-factor/reset")

    assert done.status_code == 302
    db.session.refresh(mia)
    assert not mia.totp_enabled
    assert mia.totp_secret is None
    assert mia.totp_last_step is None
    assert twofactor.recovery_codes_left(mia) == 0
    [event] = events("user.two_factor_reset")
    assert event.actor_id == admin.id
    assert event.entity_id == str(mia.id)
    [ended] = events("user.sessions_ended")
    assert ended.changes["reason"] == [None, "two_factor_reset"]
    # mia's browser is signed out at its next request, and told why
    out = client.get("/")
    assert out.status_code == 302
    assert "/login" in out.location
    assert "An admin reset your second factor" in text_of(client.get(out.location))
    # at her next sign-in the role sends her to enrol again
    login("mia")
    assert client.get("/").location.endswith("/account/two-factor/enrol")


def test_resetting_a_user_without_a_second_factor_is_refused(client, create_user, login):
    wes = create_user("wes", roles=("warehouse",))
    admin = create_user("boss", roles=("admin",))
    services.update_settings({"two_factor_roles": ""}, actor=admin)
    db.session.commit()
    assert settings.get("two_factor_roles") == frozenset()
    login("boss")

    refused = client.post(f"/admin/users/{wes.id}/two-factor/reset",
                          headers={"Referer": "/admin/users"})

    assert refused.status_code in (302, 409)
    assert not events("user.two_factor_reset")


def test_the_roles_setting_refuses_an_unknown_role(app, dummy_admin):
    from erp.core.errors import FieldErrors
    with pytest.raises(FieldErrors, match="superuser"):
        services.update_settings({"two_factor_roles": "admin superuser"}, actor=dummy_admin)
    assert settings.get("two_factor_roles") == frozenset({"admin", "manager"})


def test_the_rule_switched_off_outside_tests_is_warned_about(app, caplog):
    from erp import create_app
    with caplog.at_level("WARNING"):
        create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                    "SECRET_KEY": "x" * 32, "ERP_TWO_FACTOR_REQUIRED": False})
    assert any("ERP_TWO_FACTOR_REQUIRED is off" in r.getMessage() for r in caplog.records)
