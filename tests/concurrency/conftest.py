"""Fixtures of the concurrency suite: a live server on the test's database and its staff."""

from __future__ import annotations

import itertools

import pytest

# the scenarios' checks say which figure was off, as a test module's asserts do
pytest.register_assert_rewrite("tests.concurrency.guarded", "tests.concurrency.scenarios")

from erp import create_app  # noqa: E402
from erp.extensions import db  # noqa: E402
from tests.concurrency.harness import GunicornServer, Staff, ThreadedServer  # noqa: E402
from tests.conftest import BASE_CONFIG, PG_URL  # noqa: E402

_people = itertools.count(1)


@pytest.fixture(scope="module")
def _gunicorn(_schema, tmp_path_factory):
    """Run gunicorn (4 workers) on the session's PostgreSQL schema, once per module."""
    if not PG_URL:
        yield None
        return
    server = GunicornServer(_schema, tmp_path_factory.mktemp("gunicorn") / "gunicorn.log")
    yield server
    server.stop()


@pytest.fixture
def live(app, _gunicorn):
    """A server answering on the test's database: gunicorn on PostgreSQL, threads on SQLite."""
    if _gunicorn is not None:
        yield _gunicorn
        return
    served = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI":
                         app.config["SQLALCHEMY_DATABASE_URI"], "WTF_CSRF_ENABLED": True,
                         "ERP_LOGIN_RATE_LIMIT": "10000 per minute",
                         "ERP_API_RATE_LIMIT": "100000 per minute"})
    server = ThreadedServer(served)
    yield server
    server.stop()
    with served.app_context():
        db.engine.dispose()


@pytest.fixture
def staff(live, create_user):
    """Return ``staff(role, n=8)``: ``n`` people of ``role``, each signed in on the server."""

    def factory(role: str, n: int = 8) -> list[Staff]:
        users = [create_user(f"{role[:5]}-{next(_people)}", roles=(role,)) for _ in range(n)]
        db.session.commit()
        return [Staff(live, user.username).sign_in() for user in users]

    return factory
