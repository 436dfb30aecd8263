"""User administration: create, edit roles, deactivate, reset passwords, list; admins only."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from erp.core import services
from erp.core.models import AuditEvent, User
from erp.core.services import UserError
from erp.extensions import db
from tests.fixtures.core import PASSWORD

NEW_PASSWORD = "temporary-pass-123"


@pytest.fixture
def admin(login_as):
    """Return the signed-in admin."""
    return login_as("admin")


def text_of(response) -> str:
    """Return the response body with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def count(model) -> int:
    """Return the number of rows of ``model``."""
    return db.session.scalar(select(func.count()).select_from(model))


def events(action: str) -> list[AuditEvent]:
    """Return the audit events with ``action``, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def user_named(username: str) -> User | None:
    """Return the user ``username`` freshly loaded, or None."""
    db.session.expire_all()
    return services.get_user_by_username(username)


def new_user_form(**overrides) -> dict:
    """Return the form data of a valid new user."""
    return {"username": "bob", "full_name": "Bob Builder", "email": "bob@example.com",
            "roles": ["purchasing", "warehouse"], "active": "y", "password": NEW_PASSWORD,
            **overrides}


def edit_form(user: User, **overrides) -> dict:
    """Return the edit form data of ``user`` as it stands, with ``overrides``."""
    data = {"username": user.username, "full_name": user.full_name, "email": user.email or "",
            "roles": sorted(r.value for r in user.roles)}
    if user.active:
        data["active"] = "y"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --------------------------------------------------------------------------- create


def test_create_user_with_several_roles_stores_roles_and_audits(client, admin):
    response = client.post("/admin/users/new", data=new_user_form())

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users"
    bob = user_named("bob")
    assert bob is not None
    assert {r.value for r in bob.roles} == {"purchasing", "warehouse"}
    assert bob.full_name == "Bob Builder"
    assert bob.email == "bob@example.com"
    assert bob.active is True
    assert bob.must_change_password is True
    [event] = events("user.created")[-1:]
    assert event.entity_type == "user"
    assert event.entity_id == str(bob.id)
    assert event.entity_ref == "bob"
    assert event.actor_id == admin.id
    assert event.changes == {"username": [None, "bob"], "roles": [None, ["purchasing",
                                                                           "warehouse"]]}


def test_create_user_username_is_stored_lower_case(client, admin):
    client.post("/admin/users/new", data=new_user_form(username="  BoB "))
    assert user_named("bob") is not None
    assert db.session.scalar(select(User.username).where(User.username.ilike("bob"))) == "bob"


def test_create_user_duplicate_username_refused_and_nothing_written(client, admin,
                                                                    create_user):
    create_user("bob", roles=("warehouse",))
    users, audits = count(User), count(AuditEvent)

    response = client.post("/admin/users/new", data=new_user_form(username="Bob"))

    assert response.status_code == 200
    assert 'To create user "bob", you must choose another username: it is taken.' \
        in text_of(response)
    assert count(User) == users
    assert count(AuditEvent) == audits
    assert {r.value for r in user_named("bob").roles} == {"warehouse"}


@pytest.mark.parametrize("username", ["bad name", "-dash-first", "ünïcode", "a/b"])
def test_create_user_bad_username_refused(client, admin, username):
    users = count(User)
    response = client.post("/admin/users/new", data=new_user_form(username=username))
    assert response.status_code == 200
    assert "A username must be 2-64 characters" in text_of(response)
    assert count(User) == users


@pytest.mark.parametrize(("password", "message"), [
    ("short", "A password must have at least 10 characters."),
    ("", "A password must have at least 10 characters."),
    ("bobthebuilder", "A password must not be the username."),
])
def test_create_user_weak_password_refused(client, admin, password, message):
    users, audits = count(User), count(AuditEvent)
    response = client.post("/admin/users/new",
                           data=new_user_form(username="bobthebuilder", password=password))
    assert response.status_code == 200
    assert message in text_of(response)
    assert count(User) == users
    assert count(AuditEvent) == audits


def test_create_user_without_role_refused(client, admin):
    users = count(User)
    data = new_user_form()
    del data["roles"]
    response = client.post("/admin/users/new", data=data)
    assert response.status_code == 200
    assert "Choose at least one role." in text_of(response)
    assert count(User) == users


# --------------------------------------------------------------------------- edit


def test_edit_user_roles_changes_roles_and_audits_before_after(client, admin, create_user):
    bob = create_user("bob", roles=("warehouse",), full_name="Bob Builder")

    response = client.post(f"/admin/users/{bob.id}/edit",
                           data=edit_form(bob, roles=["manager", "purchasing"]))

    assert response.status_code == 302
    assert {r.value for r in user_named("bob").roles} == {"manager", "purchasing"}
    [event] = events("user.updated")
    assert event.actor_id == admin.id
    assert event.entity_id == str(bob.id)
    assert event.changes == {"roles": [["warehouse"], ["manager", "purchasing"]]}


def test_edit_user_without_change_writes_no_audit(client, admin, create_user):
    bob = create_user("bob", roles=("warehouse",), full_name="Bob Builder")
    response = client.post(f"/admin/users/{bob.id}/edit", data=edit_form(bob))
    assert response.status_code == 302
    assert events("user.updated") == []


def test_edit_own_admin_role_removal_refused(client, admin, create_user):
    create_user("second-admin", roles=("admin",))  # not the last admin: the self rule applies
    response = client.post(f"/admin/users/{admin.id}/edit",
                           data=edit_form(admin, roles=["manager"]))
    assert response.status_code == 200
    assert "To remove your own admin role or deactivate yourself, ask another admin" \
        in text_of(response)
    assert user_named(admin.username).has_role("admin")
    assert events("user.updated") == []


def test_edit_own_active_flag_off_refused(client, admin):
    response = client.post(f"/admin/users/{admin.id}/edit", data=edit_form(admin, active=None))
    assert response.status_code == 200
    assert "you cannot lock yourself out" in text_of(response)
    assert user_named(admin.username).active is True


# --------------------------------------------------------------------------- (de)activate


def test_toggle_active_deactivates_then_reactivates(client, admin, create_user):
    bob = create_user("bob", roles=("warehouse",))

    response = client.post(f"/admin/users/{bob.id}/active")
    assert response.status_code == 302
    assert user_named("bob").active is False
    assert events("user.updated")[-1].changes == {"active": [True, False]}

    response = client.post(f"/admin/users/{bob.id}/active")
    assert response.status_code == 302
    assert user_named("bob").active is True
    assert events("user.updated")[-1].changes == {"active": [False, True]}


def test_deactivated_user_session_ends_and_cannot_sign_in(app, client, admin, create_user):
    create_user("bob", roles=("warehouse",))
    bob_client = app.test_client()
    assert bob_client.post("/login", data={"username": "bob",
                                           "password": PASSWORD}).status_code == 302
    assert bob_client.get("/").status_code == 200

    client.post(f"/admin/users/{user_named('bob').id}/active")

    assert bob_client.get("/").status_code == 302
    response = bob_client.post("/login", data={"username": "bob", "password": PASSWORD})
    assert "This account is deactivated" in text_of(response)


def test_toggle_active_on_self_refused(client, admin):
    response = client.post(f"/admin/users/{admin.id}/active")
    assert response.status_code == 409
    assert "you cannot lock yourself out" in text_of(response)
    assert user_named(admin.username).active is True
    assert events("user.updated") == []


def test_update_user_last_active_admin_cannot_lose_admin(create_user):
    root = create_user("root", roles=("admin",))
    create_user("old-admin", roles=("admin",), active=False)  # an inactive admin does not count
    manager = create_user("max", roles=("manager",))

    with pytest.raises(UserError, match='To remove admin rights from "root", you must first '
                                        "make another active user an admin"):
        services.update_user(root, full_name=root.full_name, email=None, roles=["manager"],
                             active=True, actor=manager)
    db.session.rollback()
    with pytest.raises(UserError, match="another active user an admin"):
        services.set_user_active(root, False, actor=manager)
    db.session.rollback()

    root = user_named("root")
    assert root.active
    assert root.has_role("admin")
    assert events("user.updated") == []


def test_update_user_admin_with_another_active_admin_may_lose_admin(create_user):
    root = create_user("root", roles=("admin",))
    other = create_user("other", roles=("admin",))
    services.update_user(root, full_name=root.full_name, email=None, roles=["manager"],
                         active=True, actor=other)
    db.session.commit()
    assert not user_named("root").has_role("admin")


# --------------------------------------------------------------------------- reset password


def test_reset_password_forces_change_and_new_password_works(app, client, admin, create_user):
    bob = create_user("bob", roles=("warehouse",))

    response = client.post(f"/admin/users/{bob.id}/password",
                           data={"new_password": NEW_PASSWORD})

    assert response.status_code == 302
    bob = user_named("bob")
    assert bob.must_change_password is True
    [event] = events("user.password_reset")
    assert event.actor_id == admin.id
    assert event.entity_id == str(bob.id)
    bob_client = app.test_client()
    old = bob_client.post("/login", data={"username": "bob", "password": PASSWORD})
    assert "Wrong username or password." in text_of(old)
    new = bob_client.post("/login", data={"username": "bob", "password": NEW_PASSWORD})
    assert new.status_code == 302
    assert bob_client.get("/").headers["Location"] == "/account/password"


def test_reset_password_weak_refused(client, admin, create_user):
    bob = create_user("bob", roles=("warehouse",))
    old_hash = bob.password_hash
    response = client.post(f"/admin/users/{bob.id}/password", data={"new_password": "short"})
    assert response.status_code == 200
    assert "A password must have at least 10 characters." in text_of(response)
    bob = user_named("bob")
    assert bob.password_hash == old_hash
    assert bob.must_change_password is False


# --------------------------------------------------------------------------- list


def listed_usernames(response) -> list[str]:
    """Return the usernames linked in a user list page."""
    return re.findall(r'<a href="/admin/users/\d+/edit">([^<]+)</a>',
                      response.get_data(as_text=True))


def test_user_list_paginates_beyond_page_size(app, client, admin, create_user):
    for i in range(55):
        create_user(f"staff{i:02d}", roles=("warehouse",))
    total = count(User)
    assert total == 56

    first = client.get("/admin/users")
    second = client.get("/admin/users?page=2")

    assert first.status_code == second.status_code == 200
    page_size = app.config["ERP_PAGE_SIZE"]
    assert len(listed_usernames(first)) == page_size
    assert len(listed_usernames(second)) == total - page_size
    assert set(listed_usernames(first)).isdisjoint(listed_usernames(second))
    assert "Page 2 of 2" in text_of(second)
    assert 'rel="next"' in text_of(first)


def test_user_list_search_narrows(client, admin, create_user):
    create_user("bob", roles=("warehouse",), full_name="Bob Builder")
    create_user("carol", roles=("manager",), full_name="Carol Bobson", email="c@example.com")
    create_user("dave", roles=("warehouse",), full_name="Dave Digger",
                email="dave@bobcat.example")
    create_user("erin", roles=("warehouse",), full_name="Erin Other", active=False)

    assert sorted(listed_usernames(client.get("/admin/users?q=BOB"))) == ["bob", "carol",
                                                                          "dave"]
    assert listed_usernames(client.get("/admin/users?q=bob&role=manager")) == ["carol"]
    assert listed_usernames(client.get("/admin/users?active=no")) == ["erin"]
    assert "No user matches." in text_of(client.get("/admin/users?q=zzz"))


# --------------------------------------------------------------------------- permissions


def test_manager_refused_on_every_user_admin_action(client, login_as, create_user):
    bob = create_user("bob", roles=("warehouse",))
    login_as("manager")
    users, audits = count(User), count(AuditEvent)
    requests = [
        ("GET", "/admin/users", None),
        ("GET", "/admin/users/new", None),
        ("POST", "/admin/users/new", new_user_form(username="mallory")),
        ("GET", f"/admin/users/{bob.id}/edit", None),
        ("POST", f"/admin/users/{bob.id}/edit", edit_form(bob, roles=["admin"])),
        ("POST", f"/admin/users/{bob.id}/active", None),
        ("GET", f"/admin/users/{bob.id}/password", None),
        ("POST", f"/admin/users/{bob.id}/password", {"new_password": NEW_PASSWORD}),
    ]
    for method, path, data in requests:
        assert client.open(path, method=method, data=data).status_code == 403, (method, path)
    assert count(User) == users
    assert count(AuditEvent) == audits
    bob = user_named("bob")
    assert bob.active
    assert {r.value for r in bob.roles} == {"warehouse"}
