"""Browser flows: a live server on a demo database, Debian's Chromium driven by Playwright.

The server is the real app (CSRF on, so every form the flows post must carry its token) on a
temporary SQLite file loaded by ``erp demo``, served by werkzeug in a daemon thread. Chromium is
the system one (``/usr/bin/chromium``, or ``ERP_E2E_CHROMIUM``); no browser is ever downloaded.

When they run (``@pytest.mark.e2e`` tests):

- Chromium missing: skipped with the reason, except under ``CI=true``, where ``.ci/run``
  installs it, so a missing browser fails the run;
- ``ERP_TEST_DATABASE_URL`` set: skipped, since the flows use SQLite and the SQLite pass of
  ``make test`` runs them (the two passes share two cores).

On a failure the page the test was working on is saved as a full-page screenshot to
``test-artifacts/e2e/<test name>.png`` (``ERP_E2E_ARTIFACTS`` overrides the folder).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from erp import create_app
from erp.extensions import db
from tests.conftest import BASE_CONFIG, PG_URL

CHROMIUM = os.environ.get("ERP_E2E_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
REPO = Path(__file__).resolve().parents[2]
#: how long a step may wait for the page (ms): long enough for a slow CI core, short enough
#: that a broken flow fails fast
TIMEOUT_MS = 15_000


def _in_ci() -> bool:
    return (os.environ.get("CI") or "").strip().lower() in {"1", "true", "yes"}


def _chromium() -> str | None:
    path = shutil.which(CHROMIUM) if os.sep not in CHROMIUM else CHROMIUM
    return path if path and os.access(path, os.X_OK) else None


def pytest_collection_modifyitems(config, items):
    """Skip the browser flows on the PostgreSQL pass, and where Chromium is missing (not CI)."""
    flows = [item for item in items if item.get_closest_marker("e2e")]
    if not flows:
        return
    if PG_URL:
        reason = "browser flows run in the SQLite pass"
    elif _chromium() is None and not _in_ci():
        reason = (f"no Chromium at {CHROMIUM}: install Debian's chromium "
                  "(apt-get install chromium) to run the browser flows")
    else:
        return
    for item in flows:
        item.add_marker(pytest.mark.skip(reason=reason))


# --------------------------------------------------------------------------- screenshots


def artifacts_dir() -> Path:
    """Return the folder of failure screenshots (``ERP_E2E_ARTIFACTS`` or test-artifacts/e2e)."""
    return Path(os.environ.get("ERP_E2E_ARTIFACTS") or REPO / "test-artifacts" / "e2e")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed flow, save a full-page screenshot of the page it was on, and say where."""
    outcome = yield
    report = outcome.get_result()
    staff = item.funcargs.get("staff") if hasattr(item, "funcargs") else None
    if not report.failed or report.when == "teardown" or staff is None or staff.page is None:
        return
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)
    path = artifacts_dir() / f"{name}.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staff.page.screenshot(path=str(path), full_page=True, timeout=TIMEOUT_MS)
    except Exception as err:  # noqa: BLE001 - a failed screenshot must not hide the failure
        report.sections.append(("e2e screenshot", f"could not save a screenshot: {err}"))
        return
    message = f"screenshot of {staff.page.url} saved to {path}"
    report.sections.append(("e2e screenshot", message))
    print(f"\n{message}")


# --------------------------------------------------------------------------- the live server


class LiveServer:
    """The app served on 127.0.0.1 in a daemon thread, and the demo logins by role."""

    def __init__(self, app, logins: dict[str, tuple[str, str]]):
        self.app = app
        self.logins = logins  # role -> (username, password)
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="e2e-server",
                                        daemon=True)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the background jobs the flows started."""
        from erp.core import jobs

        self._server.shutdown()
        self._thread.join(10)
        jobs.wait_for_threads(30)


def _read_logins(instance: Path) -> dict[str, tuple[str, str]]:
    logins = {}
    for line in (instance / "demo-logins.txt").read_text().splitlines():
        username, password, role = line.split()
        logins[role] = (username, password)
    return logins


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """Return a :class:`LiveServer` on a fresh SQLite file loaded with ``erp demo``."""
    started = time.monotonic()
    instance = tmp_path_factory.mktemp("e2e")
    app = create_app({
        **BASE_CONFIG,
        # the browser posts real forms: every one the flows use must carry its token
        "WTF_CSRF_ENABLED": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'erp.sqlite3'}",
        # reports run in a background thread of the server, as in the embedded set-up,
        # whatever the developer's environment says
        "ERP_REDIS_URL": None,
        "ERP_JOBS_SYNC": False,
    })
    app.instance_path = str(instance)
    with app.app_context():
        db.create_all()
        result = app.test_cli_runner().invoke(args=["demo"])
        assert result.exit_code == 0, result.output
        db.session.remove()
    server = LiveServer(app, _read_logins(instance))
    server.start()
    print(f"\ne2e live server {server.url} ready in {time.monotonic() - started:.1f} s")
    yield server
    server.stop()
    with app.app_context():
        db.engine.dispose()


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser():
    """Return Debian's Chromium, launched headless by Playwright.

    One per module, so it is closed as soon as the flows are done rather than idling through
    the rest of the suite (it starts in about a second).
    """
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    if _chromium() is None:  # only reached under CI: elsewhere the flows are skipped
        pytest.fail(f"CI is set but there is no Chromium at {CHROMIUM}: .ci/run installs "
                    "Debian's chromium, so the browser flows must run.")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


class Staff:
    """The people of a flow: ``staff("warehouse")`` is a page signed in as that role's user.

    Each role gets its own browser context (its own cookies), signed in through the login form
    the first time. ``page`` is the page last handed out: the one a failure screenshot shows.
    Confirmation dialogs (``data-confirm`` buttons) are accepted and their text kept in
    ``dialogs``.
    """

    def __init__(self, browser, server: LiveServer, *, viewport: dict | None = None,
                 locale: str = "en-US"):
        self._browser = browser
        self._server = server
        self._viewport = viewport or {"width": 1280, "height": 900}
        self._locale = locale  # the browser's language, sent as Accept-Language
        self._pages: dict = {}
        self._contexts: list = []
        self.page = None
        self.dialogs: list[str] = []

    def __call__(self, role: str):
        """Return the page of ``role``'s user, signed in."""
        page = self._pages.get(role)
        if page is None:
            page = self._sign_in(role)
            self._pages[role] = page
        self.page = page
        return page

    def _sign_in(self, role: str):
        from playwright.sync_api import expect

        username, password = self._server.logins[role]
        context = self._browser.new_context(base_url=self._server.url, accept_downloads=True,
                                            viewport=self._viewport, locale=self._locale)
        self._contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        self.page = page

        def accept(dialog):
            self.dialogs.append(dialog.message)
            dialog.accept()

        page.on("dialog", accept)
        page.goto("/login")
        # by name, not label: the form is in the browser's language
        page.locator("input[name=username]").fill(username)
        page.locator("input[name=password]").fill(password)
        page.locator("form button[type=submit]").click()
        expect(page.locator("body.home, h1")).not_to_have_count(0)
        expect(page).to_have_url(re.compile(r"/$"))
        return page

    def close(self) -> None:
        """Close every context (and so its pages)."""
        for context in self._contexts:
            context.close()


@pytest.fixture
def staff(browser, live_server):
    """Return a :class:`Staff` for the test; its contexts are closed afterwards."""
    people = Staff(browser, live_server)
    yield people
    people.close()


#: a handheld scanner's screen (portrait), on which every scanner page must fit
HANDHELD = {"width": 390, "height": 844}


@pytest.fixture
def handheld(browser, live_server):
    """Return a :class:`Staff` whose pages are a 390 × 844 handheld's."""
    people = Staff(browser, live_server, viewport=HANDHELD)
    yield people
    people.close()


@pytest.fixture
def chinese_staff(browser, live_server):
    """Return a :class:`Staff` whose browser asks for Chinese (zh-CN)."""
    people = Staff(browser, live_server, locale="zh-CN")
    yield people
    people.close()


def assert_fits_handheld(page) -> None:
    """Assert the page needs no horizontal scrolling and its scan field has the focus.

    The scan field is the element with ``autofocus``; a scanner types into whatever has focus,
    so it must be that one when the page opens.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    # The layout is read once it has settled: web fonts loaded and the page laid out at the
    # screen's width (a CI run once read it mid-layout: 615 px wide, yet no element past the
    # edge a moment later). A page that stays too wide still fails below.
    fits = "() => document.documentElement.scrollWidth <= window.innerWidth"
    page.evaluate("document.fonts.ready.then(() => true)")
    try:
        page.wait_for_function(fits, timeout=3000)
    except PlaywrightTimeoutError:
        pass
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') +
                         (e.className ? '.' + String(e.className).split(' ').join('.') : ''))""")
    assert width <= viewport, f"{page.url}: {width} px wide on a {viewport} px screen; " \
        f"past the edge: {wide}"

    # The browser applies ``autofocus`` when it next renders, a moment after the page has
    # loaded, so wait for it (a few seconds at most) rather than read it once.
    has_focus = ("() => !!(document.activeElement && "
                 "document.activeElement.hasAttribute('autofocus'))")
    try:
        page.wait_for_function(has_focus, timeout=5000)
    except PlaywrightTimeoutError:
        pass
    focused = page.evaluate(has_focus)
    assert focused, f"{page.url}: the scan field (autofocus) does not have the focus"
