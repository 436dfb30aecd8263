"""Server-side sessions.

A new one at each sign-in, an absolute lifetime, revocation, and the "My sessions" page.
"""

from __future__ import annotations

import html
from datetime import timedelta

from sqlalchemy import func, select, update

from erp.core import services, sessions
from erp.core.models import AuditEvent, UserSession, utcnow
from erp.extensions import db
from tests.fixtures.core import PASSWORD


def text_of(response) -> str:
    """Return the response body with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def open_rows(user) -> list[UserSession]:
    """Return ``user``'s sessions not ended, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None)).order_by(UserSession.id)))


def token_of(client) -> str | None:
    """Return the session token the client's cookie carries."""
    with client.session_transaction() as sess:
        return sess.get(sessions.TOKEN_KEY)


def signed_out_with(client, message: str) -> None:
    """Assert the client's next page sends it to sign in, saying ``message``."""
    out = client.get("/")
    assert out.status_code == 302
    assert "/login" in out.location
    assert message in text_of(client.get(out.location))
    assert client.get("/").status_code == 302  # and it stays signed out


def test_sign_in_opens_a_new_session_with_a_new_id(client, create_user, login):
    user = create_user("wes", roles=("warehouse",))
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker before sign-in"

    login("wes")
    first = token_of(client)
    client.post("/logout")
    login("wes")
    second = token_of(client)

    assert first
    assert second
    assert first != second
    with client.session_transaction() as sess:
        assert "planted" not in sess
    [row] = open_rows(user)
    assert row.token_hash == sessions.hash_token(second)
    assert second not in {r.token_hash for r in open_rows(user)}  # only the hash is stored
    assert row.address == "127.0.0.1"
    assert row.user_agent


def test_a_cookie_without_its_session_row_is_not_signed_in(client, create_user, login):
    user = create_user("wes", roles=("warehouse",))
    login("wes")
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id)
                       .values(token_hash="0" * 64))
    db.session.commit()

    assert client.get("/").status_code == 302


def test_a_session_ends_after_its_absolute_lifetime(client, create_user, login):
    user = create_user("wes", roles=("warehouse",))
    login("wes")
    assert client.get("/").status_code == 200
    # active all along (idle timeout never reached), but begun 12 hours ago
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id).values(
        created_at=utcnow() - timedelta(hours=12, seconds=1), last_seen_at=utcnow()))
    db.session.commit()

    signed_out_with(client, "Your session reached its maximum length")


def test_the_lifetime_is_a_setting(client, create_user, login, dummy_admin):
    user = create_user("wes", roles=("warehouse",))
    login("wes")
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id).values(
        created_at=utcnow() - timedelta(hours=2)))
    db.session.commit()
    assert client.get("/").status_code == 200

    services.update_settings({"session_lifetime_hours": "1"}, actor=dummy_admin)
    db.session.commit()

    signed_out_with(client, "maximum length")
    assert sessions.active_sessions(user) == []


def test_deactivating_a_user_ends_their_sessions(app, client, create_user, login, dummy_admin):
    user = create_user("wes", roles=("warehouse",))
    login("wes")
    assert client.get("/").status_code == 200
    admin = app.test_client()
    admin.post("/login", data={"username": "admin", "password": PASSWORD})

    assert admin.post(f"/admin/users/{user.id}/active").status_code == 302

    assert open_rows(user) == []
    ended = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.sessions_ended"))
    assert ended.changes == {"count": [None, 1], "reason": [None, "deactivated"]}
    assert ended.actor_id == dummy_admin.id
    signed_out_with(client, "Your account was deactivated")
    # reactivated, the old cookie stays signed out: its session ended
    services.set_user_active(user, True, actor=dummy_admin)
    db.session.commit()
    assert client.get("/").status_code == 302


def test_an_admin_password_reset_ends_the_users_sessions(app, client, create_user, login,
                                                         dummy_admin):
    user = create_user("wes", roles=("warehouse",))
    login("wes")
    admin = app.test_client()
    admin.post("/login", data={"username": "admin", "password": PASSWORD})

    answer = admin.post(f"/admin/users/{user.id}/password",
                        data={"new_password": "another-long-password"})

    assert answer.status_code == 302
    assert open_rows(user) == []
    signed_out_with(client, "An admin reset your password")
    # the admin's own session is untouched
    assert admin.get("/").status_code == 200


def test_changing_ones_password_ends_ones_other_sessions(app, client, create_user, login):
    user = create_user("wes", roles=("warehouse",))
    other = app.test_client()
    other.post("/login", data={"username": "wes", "password": PASSWORD})
    login("wes")

    answer = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "another-long-password",
        "confirm": "another-long-password"})

    assert answer.status_code == 302
    assert client.get("/").status_code == 200
    [still] = open_rows(user)
    assert still.token_hash == sessions.hash_token(token_of(client))
    signed_out_with(other, "Your password was changed in another session")


def test_signing_out_ends_the_session(client, create_user, login):
    user = create_user("wes", roles=("warehouse",))
    login("wes")
    token = token_of(client)

    client.post("/logout")

    row = db.session.scalar(select(UserSession).where(
        UserSession.token_hash == sessions.hash_token(token)))
    assert row.ended_at is not None
    assert row.end_reason == "signed_out"
    assert open_rows(user) == []


def test_my_sessions_lists_them_and_ends_one_or_all_others(app, client, create_user, login):
    user = create_user("wes", roles=("warehouse",))
    phone = app.test_client()
    phone.post("/login", data={"username": "wes", "password": PASSWORD})
    tablet = app.test_client()
    tablet.post("/login", data={"username": "wes", "password": PASSWORD})
    login("wes")

    page = text_of(client.get("/account/sessions"))

    assert page.count("/end\"") == 3
    assert page.count("This session") == 1
    phone_row = open_rows(user)[0]
    assert client.post(f"/account/sessions/{phone_row.id}/end").status_code == 302
    signed_out_with(phone, "This session was ended from another session of yours")
    assert tablet.get("/").status_code == 200

    client.post("/account/sessions/end-others")

    assert tablet.get("/").status_code == 302
    assert client.get("/").status_code == 200
    assert len(open_rows(user)) == 1
    actions = list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.in_(("user.session_ended", "user.sessions_ended")))))
    assert sorted(actions) == ["user.session_ended", "user.sessions_ended"]


def test_nobody_ends_someone_elses_session(app, client, create_user, login):
    other = create_user("mia", roles=("manager",))
    app.test_client().post("/login", data={"username": "mia", "password": PASSWORD})
    create_user("wes", roles=("warehouse",))
    login("wes")
    [row] = open_rows(other)

    answer = client.post(f"/account/sessions/{row.id}/end")

    assert answer.status_code in (302, 403)
    assert len(open_rows(other)) == 1


def _session_updates(client, path: str) -> int:
    """Return how many UPDATEs of ``user_session`` a GET of ``path`` runs."""
    from sqlalchemy import event
    seen = []

    def before(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("UPDATE USER_SESSION"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return len(seen)


def test_last_seen_is_written_at_most_once_a_minute(client, create_user, login):
    user = create_user("wes", roles=("warehouse",))
    login("wes")

    assert _session_updates(client, "/account/sessions") == 0  # seen at sign-in, just now
    [row] = open_rows(user)
    db.session.execute(update(UserSession).where(UserSession.id == row.id)
                       .values(last_seen_at=utcnow() - timedelta(minutes=2)))
    db.session.commit()

    assert _session_updates(client, "/account/sessions") == 1
    [row] = open_rows(user)
    assert row.last_seen_at > utcnow() - timedelta(seconds=30)


def test_the_user_loader_reads_the_session_and_user_in_one_query(client, create_user, login,
                                                                 count_queries):
    create_user("wes", roles=("warehouse",))
    login("wes")
    client.get("/account/password")
    with count_queries() as counter:
        assert client.get("/account/password").status_code == 200
    # the session row with its user and the two settings (one query), the user's roles
    # (selectin), and the page's own search of the flash/submission tables: nothing per row
    assert counter.count <= 3, counter.count
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 1


def test_my_sessions_leaves_out_idle_ones(app, client, create_user, login):
    user = create_user("wes", roles=("warehouse",))
    app.test_client().post("/login", data={"username": "wes", "password": PASSWORD})
    login("wes")
    idle = app.permanent_session_lifetime + timedelta(minutes=2)
    old = open_rows(user)[0]
    db.session.execute(update(UserSession).where(UserSession.id == old.id)
                       .values(last_seen_at=utcnow() - idle))
    db.session.commit()

    assert [r.id for r in sessions.active_sessions(user)] == [open_rows(user)[1].id]
