"""One sign-in code posted by several browsers at the same moment passes once.

Each browser has given the right password (half signed in); they then post the same TOTP code
together to a real server (gunicorn with 4 workers on PostgreSQL, threads on SQLite). The code's
time step is claimed by a conditional UPDATE, so exactly one is signed in.
"""

from __future__ import annotations

import requests
from sqlalchemy import func, select

from erp.core.models import LoginAttempt, UserSession
from erp.extensions import db
from tests.concurrency.harness import Staff, csrf_token, fire_together
from tests.fixtures.core import PASSWORD, totp_code

BROWSERS = 6


def _half_signed_in(live, username: str) -> Staff:
    """Return a browser that gave the right password and now shows the code step."""
    browser = Staff(live, username, requests.Session())
    page = browser.session.get(f"{live.url}/login", timeout=30).text
    answer = browser.session.post(
        f"{live.url}/login", data={"username": username, "password": PASSWORD,
                                   "csrf_token": csrf_token(page) or ""},
        timeout=30, allow_redirects=False)
    assert answer.status_code == 302, answer.text[:300]
    assert answer.headers["Location"].endswith("/login/code")
    code_page = browser.session.get(f"{live.url}/login/code", timeout=30).text
    browser.csrf = csrf_token(code_page) or ""
    return browser


def test_one_code_posted_at_once_signs_in_once(live, create_user, enrol):
    user = create_user("twin-code", roles=("manager",))
    enrol(user)
    browsers = [_half_signed_in(live, user.username) for _ in range(BROWSERS)]
    code = totp_code(user)

    answers = fire_together(browsers, "/login/code", {"code": code})

    passed = [a for a in answers if a.status == 302]
    assert len(passed) == 1, [(a.status, a.location) for a in answers]
    assert passed[0].location.endswith("/")
    assert all(a.status in (200, 429) for a in answers if a.status != 302)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == user.username, LoginAttempt.success.is_(True))) == 1
    assert db.session.scalar(select(func.count()).select_from(UserSession).where(
        UserSession.user_id == user.id)) == 1
    signed_in = [b for b, a in zip(browsers, answers, strict=True) if a.status == 302]
    others = [b for b, a in zip(browsers, answers, strict=True) if a.status != 302]
    assert signed_in[0].session.get(f"{live.url}/", timeout=30,
                                    allow_redirects=False).status_code == 200
    for browser in others:
        assert browser.session.get(f"{live.url}/", timeout=30,
                                   allow_redirects=False).status_code == 302
