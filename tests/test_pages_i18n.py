"""Every page in both languages, on the demo data.

An admin (who may open every page) walks the app from the home page, following its links, and
opens one URL of every GET endpoint it reaches, first in English, then in Chinese. Every page
must render (200), show no unfilled placeholder, and, in Chinese, no text left in English that
the catalog translates: a heading, label, button, table header, title or placeholder equal to a
catalog message is a string somebody forgot to wrap or a page that skipped the translation.
"""

from __future__ import annotations

import html
import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from werkzeug.exceptions import HTTPException

from erp.core import catalogs

#: endpoints a link may reach that are not pages to read (files, downloads, sign-out)
SKIP_SUFFIXES = (".xlsx", ".pdf", ".json", ".csv", ".zip")
SKIP_ENDPOINTS = {"static", "core.logout", "core.health", "core.ready", "favicon"}
#: attributes people read
READ_ATTRS = {"title", "placeholder", "aria-label", "alt", "data-confirm"}


class _Texts(HTMLParser):
    """Collect the visible text nodes, the readable attributes and the links of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.links: list[str] = []
        self._skip = 0
        self._open: list[str] = []  # the tags open now, to close what a skip opened
        self._badges: list[str] = []  # the badges open now (a state's or kind's label)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        # scripts, styles and what is written in its own language on purpose (the language
        # switch offers "English" in English) are not the page's text
        if tag in {"script", "style"} or (attrs.get("lang") and tag != "html"):
            self._skip += 1
            self._open.append(tag)
        for name in READ_ATTRS:
            if attrs.get(name):
                self.texts.append(attrs[name])
        if "badge" in (attrs.get("class") or "").split():
            self._badges.append(tag)
        if tag == "input" and attrs.get("type") in {"submit", "button"} and attrs.get("value"):
            self.texts.append(attrs["value"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if self._badges and tag == self._badges[-1]:
            self._badges.pop()
        if self._open and tag == self._open[-1] and self._skip:
            self._open.pop()
            self._skip -= 1

    def handle_data(self, data):
        if self._skip or not data.strip():
            return
        # a lower-case word outside a label may be data (a username, a reason's name)
        if self._badges or data.strip()[:1].isupper():
            self.texts.append(data)


def _english_messages() -> set[str]:
    """Return the catalog's English messages that Chinese translates differently.

    Only messages with a letter in them and without placeholders: a placeholder's text is
    filled in, so the whole message never appears as it is written.
    """
    found = set()
    for message in catalogs.read(catalogs.po_path("zh_Hans_CN"), "zh_Hans_CN"):
        if not message.id or isinstance(message.id, (list, tuple)):
            continue
        if "%" in message.id or not re.search(r"[A-Za-z]{2}", message.id):
            continue
        if message.string and message.string != message.id:
            found.add(_norm(message.id))
    return found


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(text)).strip().rstrip(":").strip()


def _endpoint(app, path: str) -> str | None:
    adapter = app.url_map.bind("localhost")
    try:
        endpoint, _args = adapter.match(path, method="GET")
    except HTTPException:
        return None
    return endpoint


def _crawl(app, client, limit: int = 400) -> dict[str, str]:
    """Return one URL per GET endpoint reachable by links from the home page."""
    seen: dict[str, str] = {}
    queue = deque(["/"])
    visited = set()
    fetched = 0
    while queue and fetched < limit:
        url = queue.popleft()
        if url in visited:
            continue
        visited.add(url)
        path = urlsplit(url).path
        endpoint = _endpoint(app, path)
        if endpoint is None or endpoint in SKIP_ENDPOINTS or path.endswith(SKIP_SUFFIXES):
            continue
        if endpoint in seen:
            continue
        response = client.get(url)
        fetched += 1
        if response.status_code != 200 or not response.mimetype == "text/html":
            continue
        seen[endpoint] = url
        parser = _Texts()
        parser.feed(response.get_data(as_text=True))
        for link in parser.links:
            parts = urlsplit(html.unescape(link))
            if parts.scheme or parts.netloc or not parts.path.startswith("/"):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query and
                                   "page=" not in parts.query else "")
            if target not in visited:
                queue.append(target)
    return seen


@pytest.fixture
def demo_admin(app, runner, client, create_user, login):
    """Load the demo data and sign in as an admin of one's own."""
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    create_user("walker", roles=("admin",))
    assert login("walker").status_code == 302
    return client


def test_every_page_renders_in_english_and_chinese(app, demo_admin):
    client = demo_admin
    pages = _crawl(app, client)
    assert len(pages) > 60, f"the walk reached only {len(pages)} pages: {sorted(pages)}"
    english = _english_messages()
    problems = []
    for lang in ("en", "zh-CN"):
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
        for endpoint, url in sorted(pages.items()):
            response = client.get(url)
            if response.status_code != 200:
                problems.append(f"{lang} {url} ({endpoint}): status {response.status_code}")
                continue
            body = response.get_data(as_text=True)
            if re.search(r"%\(\w+\)[sd]", body):
                problems.append(f"{lang} {url}: an unfilled placeholder")
            if lang == "en":
                continue
            parser = _Texts()
            parser.feed(body)
            left = sorted({_norm(t) for t in parser.texts} & english)
            if left:
                problems.append(f"{lang} {url} ({endpoint}): English left: {left[:8]}")
    assert not problems, f"{len(problems)} pages fail:\n" + "\n".join(problems)


def _english_left(body: str) -> list[str]:
    parser = _Texts()
    parser.feed(body)
    return sorted({_norm(t) for t in parser.texts} & _english_messages())


def test_sign_in_and_error_pages_are_in_chinese(client, login_as):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    page = client.get("/login")
    assert page.status_code == 200
    assert _english_left(page.get_data(as_text=True)) == []

    login_as("warehouse")
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert _english_left(missing.get_data(as_text=True)) == []
    refused = client.get("/admin/users")
    assert refused.status_code == 403
    assert _english_left(refused.get_data(as_text=True)) == []
