"""The ``race`` benchmark (issue 15): 50 reservations released together against 10 units.

On PostgreSQL, the real app runs under ``gunicorn -w 4`` (the ``load`` benchmark's start-up).
Each round has a SKU of its own with exactly :data:`UNITS` units in two storage bins, and
:data:`REQUESTS` new one-unit orders of it. :data:`REQUESTS` members of customer service, each
in a browser session of its own (signed in once through the login form, kept across rounds),
open one order's page each and, released together by a barrier, press its Allocate button
(``POST /orders/<id>/allocate``, the form's hidden fields as rendered). Exactly :data:`UNITS`
orders may come out allocated; the others backordered.

Successes are counted from the database after each round (orders allocated, units reserved by
reservations and on the stock levels), and from the answers (the message each session is shown
next). The line has ``successes_per_round`` (one number when every round agrees, else the list),
``errors_5xx`` (5xx answers and requests the server dropped), ``seconds_per_round`` (the median
time from the release to the last answer) and ``n`` (requests in all).
"""

from __future__ import annotations

import html
import http.client
import re
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from http.cookiejar import CookieJar
from pathlib import Path

from bench.runner import BenchDB, bench, log, make_app

REQUESTS = 50  # simultaneous reservations per round, each from its own session
UNITS = 10  # units of the round's SKU on the shelves
ROUNDS = 20
WORKERS = 4  # gunicorn workers
PASSWORD = "race-bench-Passw0rd"
#: the accounts only exist for the benchmark: a cheap scrypt keeps 50 sign-ins out of the way
CHEAP_HASH = "scrypt:1024:8:1"
TIMEOUT = 120  # seconds one request may take before it counts as dropped

_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL | re.IGNORECASE)
_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'([\w:.-]+)="([^"]*)"')
_FLASH = re.compile(r'class="flash flash-(\w+)"[^>]*>(.*?)</div>', re.DOTALL)


# --------------------------------------------------------------------------- pages


def _attrs(tag: str) -> dict[str, str]:
    return {name.lower(): html.unescape(value) for name, value in _ATTR.findall(tag)}


def form_fields(page: str, action: str, here: str = "") -> dict[str, str] | None:
    """Return the hidden fields of the page's form posting to ``action``; None if it has none.

    A form without an ``action`` posts to the page itself, at ``here``. Whatever the page
    renders into the form (the CSRF token, a one-time submission key) is sent back as a
    browser would.
    """
    for form_attrs, body in _FORM.findall(page):
        target = urllib.parse.urlsplit(_attrs(form_attrs).get("action") or here).path
        if target == action:
            return {a["name"]: a.get("value", "") for a in map(_attrs, _INPUT.findall(body))
                    if a.get("type", "").lower() == "hidden" and a.get("name")}
    return None


def flashes(page: str) -> list[tuple[str, str]]:
    """Return ``(category, text)`` of the page's flash messages."""
    return [(category, " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split()))
            for category, text in _FLASH.findall(page)]


def condense(values: list[int]) -> int | list[int]:
    """Return the one value when every round agrees, else the list of every round's."""
    return values[0] if values and all(v == values[0] for v in values) else values


# --------------------------------------------------------------------------- a browser


@dataclass
class Answer:
    """An HTTP answer: status (0 when the server dropped the request), Location and body."""

    status: int
    location: str = ""
    body: str = ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # every request is one request: a 302 comes back as it is


class Browser:
    """One browser session against ``base``: its own cookies, redirects not followed."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect())

    def request(self, path: str, data: dict | None = None) -> Answer:
        """GET ``path``, or POST ``data`` to it as a form; return the answer."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        url = path if path.startswith("http") else self.base + path
        try:
            with self.opener.open(url, data=body, timeout=TIMEOUT) as response:
                return Answer(response.status, response.headers.get("Location", ""),
                              response.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as err:  # 3xx (not followed), 4xx, 5xx
            with err:
                return Answer(err.code, err.headers.get("Location", ""),
                              err.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            return Answer(0)  # refused, reset or cut short: the server dropped it

    def sign_in(self, username: str, password: str) -> None:
        """Sign in through the login form, with its CSRF token.

        :raises RuntimeError: if the form is refused.
        """
        page = self.request("/login")
        fields = form_fields(page.body, "/login", here="/login") or {}
        answer = self.request("/login", {**fields, "username": username, "password": password})
        where = urllib.parse.urlsplit(answer.location).path
        if answer.status != 302 or where.startswith("/login"):
            raise RuntimeError(f"{username} was not signed in: HTTP {answer.status} "
                               + str(flashes(answer.body))[:200])


# --------------------------------------------------------------------------- the data


@dataclass
class RaceRound:
    """One round's SKU and its orders (one per session, in the sessions' order)."""

    sku_id: int
    order_ids: list[int]


def build_data(app, *, rounds: int, requests: int, units: int) -> tuple[list[str], list[RaceRound]]:
    """Create the accounts, the stock and the orders of every round (committed).

    Returns the usernames and the rounds.
    """
    from sqlalchemy import insert, select

    from bench import data
    from bench.suites_load import _order_row
    from erp.catalog.models import Sku
    from erp.core import services as core_services
    from erp.core.models import utcnow
    from erp.extensions import db as sqla
    from erp.orders.models import CustomerOrder, CustomerOrderLine
    from erp.warehouse import services as warehouse_services
    from erp.warehouse.models import LocationKind, MoveKind

    app.config["ERP_PASSWORD_HASH_METHOD"] = CHEAP_HASH
    with app.app_context():
        data.sample_catalog(rounds * 10 // 9 + 10)  # every tenth SKU is discontinued
        sku_ids = list(sqla.session.scalars(select(Sku.id).where(Sku.status == "active")
                                            .order_by(Sku.id).limit(rounds)))
        warehouse = warehouse_services.create_warehouse(code="RACE", name="Race warehouse",
                                                        country="CN", actor=None)
        shelves = [warehouse_services.create_location(warehouse, code=f"A-{i:02d}",
                                                      kind="storage", pick_sequence=i * 10,
                                                      actor=None) for i in (1, 2)]
        vendor = warehouse_services.virtual_location(LocationKind.supplier)
        split = (units - units // 2, units // 2)  # two bins: a reservation may span them
        warehouse_services.post_moves([
            warehouse_services.MoveSpec(sku_id, vendor.id, shelf.id, quantity, MoveKind.opening,
                                        unit_cost=Decimal("2.0000"))
            for sku_id in sku_ids for shelf, quantity in zip(shelves, split, strict=True)
            if quantity], actor=None)
        usernames = [f"race{i:02d}" for i in range(1, requests + 1)]
        for username in usernames:
            core_services.create_user(username=username, full_name=f"Race agent {username}",
                                      password=PASSWORD, roles=["customer_service"], actor=None)
        placed = utcnow() - timedelta(hours=1)
        plan = []
        for r, sku_id in enumerate(sku_ids):
            rows = [_order_row(f"RACE-{r + 1:02d}-{i + 1:03d}", i, placed, "new",
                               shipping_service=None) for i in range(requests)]
            ids = list(sqla.session.scalars(insert(CustomerOrder).returning(
                CustomerOrder.id, sort_by_parameter_order=True), rows))
            sqla.session.execute(insert(CustomerOrderLine), [
                {"order_id": order_id, "sku_id": sku_id, "quantity": 1,
                 "unit_price": Decimal("12.90"), "allocated_qty": 0} for order_id in ids])
            plan.append(RaceRound(sku_id, ids))
        sqla.session.commit()
        sqla.engine.dispose()
    return usernames, plan


def count_round(app, race_round: RaceRound) -> dict:
    """Count from the database what a round reserved.

    Returns ``{"allocated", "backordered", "untouched", "reserved", "level_reserved",
    "on_hand"}``: orders by state, units held by the round's reservations and on its SKU's
    stock levels.
    """
    from sqlalchemy import func, select

    from erp.extensions import db as sqla
    from erp.orders.models import CustomerOrder, OrderState
    from erp.orders.services.allocation import LINE_REF
    from erp.warehouse.models import Reservation, StockLevel

    with app.app_context():
        states = dict(sqla.session.execute(
            select(CustomerOrder.state, func.count()).where(
                CustomerOrder.id.in_(race_round.order_ids)).group_by(CustomerOrder.state)).all())
        reserved = sqla.session.scalar(select(func.coalesce(func.sum(Reservation.quantity), 0))
                                       .where(Reservation.sku_id == race_round.sku_id,
                                              Reservation.ref_type == LINE_REF))
        level_reserved, on_hand = sqla.session.execute(
            select(func.coalesce(func.sum(StockLevel.reserved), 0),
                   func.coalesce(func.sum(StockLevel.on_hand), 0))
            .where(StockLevel.sku_id == race_round.sku_id)).one()
        sqla.session.remove()
    return {"allocated": states.get(OrderState.allocated, 0),
            "backordered": states.get(OrderState.backordered, 0),
            "untouched": states.get(OrderState.new, 0), "reserved": int(reserved),
            "level_reserved": int(level_reserved), "on_hand": int(on_hand)}


# --------------------------------------------------------------------------- a round


@dataclass
class RoundAnswers:
    """What the sessions saw in one round."""

    statuses: list[int] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)  # the state the message names, or why not
    seconds: float = 0.0


def race_round(browsers: list[Browser], order_ids: list[int]) -> RoundAnswers:
    """Each browser opens its order's page; released together, all press Allocate.

    The time is from the release to the last answer; each browser then reads the message it
    is shown (untimed).
    """
    from erp.orders.models import ORDER_STATES, OrderState

    allocated = f"is {ORDER_STATES.label(OrderState.allocated)}."
    n = len(browsers)
    barrier = threading.Barrier(n)
    started, ended = [0.0] * n, [0.0] * n
    statuses, outcomes = [0] * n, [""] * n

    def press(k: int) -> None:
        browser, order_id = browsers[k], order_ids[k]
        action = f"/orders/{order_id}/allocate"
        page = browser.request(f"/orders/{order_id}")
        fields = form_fields(page.body, action) if page.status == 200 else None
        try:
            barrier.wait(timeout=TIMEOUT)
        except threading.BrokenBarrierError:
            statuses[k], outcomes[k] = -1, "the others never came"
            return
        started[k] = time.perf_counter()
        if fields is None:
            ended[k] = started[k]
            statuses[k] = -1
            outcomes[k] = f"no Allocate button on the order page (HTTP {page.status})"
            return
        answer = browser.request(action, fields)
        ended[k] = time.perf_counter()
        statuses[k] = answer.status
        if answer.status != 302:
            outcomes[k] = f"HTTP {answer.status}"
            return
        shown = flashes(browser.request(answer.location).body)
        text = "; ".join(message for _, message in shown)
        outcomes[k] = ("allocated" if any(c == "success" and message.endswith(allocated)
                                          for c, message in shown) else text or "no message")

    def guarded(k: int) -> None:
        try:
            press(k)
        except Exception as err:  # a thread's failure is a figure of the round, not a crash
            barrier.abort()  # nobody waits for a thread that will never come
            statuses[k], outcomes[k] = -1, f"{type(err).__name__}: {err}"

    threads = [threading.Thread(target=guarded, args=(k,), daemon=True) for k in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT * 3)
    begun = [t for t in started if t]
    seconds = max(ended) - min(begun) if begun else 0.0
    return RoundAnswers(statuses, outcomes, seconds)


def _summary(counts: list[dict], answers: list[RoundAnswers]) -> dict:
    """Return the benchmark's figures from each round's counts and answers."""
    statuses = Counter(s for a in answers for s in a.statuses)
    errors_5xx = sum(count for status, count in statuses.items()
                     if status == 0 or status >= 500)
    times = [a.seconds for a in answers]
    return {
        "successes_per_round": condense([c["allocated"] for c in counts]),
        "reserved_per_round": condense([c["reserved"] for c in counts]),
        "level_reserved_per_round": condense([c["level_reserved"] for c in counts]),
        "http_successes_per_round": condense([a.outcomes.count("allocated") for a in answers]),
        "errors_5xx": errors_5xx,
        "errors_other": sum(count for status, count in statuses.items()
                            if status != 302 and not (status == 0 or status >= 500)),
        "http_statuses": {str(status): count for status, count in sorted(statuses.items())},
        "seconds_per_round": round(statistics.median(times), 4),
        "max_seconds_per_round": round(max(times), 4),
    }


def play(app, base: str, usernames: list[str], plan: list[RaceRound]
         ) -> tuple[list[dict], list[RoundAnswers]]:
    """Sign a browser in for each username against the server at ``base``; play every round.

    Returns each round's counts (:func:`count_round`) and answers (:func:`race_round`).
    """
    browsers = [Browser(base) for _ in usernames]
    for browser, username in zip(browsers, usernames, strict=True):
        browser.sign_in(username, PASSWORD)
    log(f"   {len(browsers)} sessions signed in; {len(plan)} rounds of {len(usernames)} "
        "reservations released together")
    counts, answers = [], []
    for r, race_plan in enumerate(plan):
        answers.append(race_round(browsers, race_plan.order_ids))
        counts.append(count_round(app, race_plan))
        count, seen = counts[-1], answers[-1]
        unexpected = sorted({o for o in seen.outcomes if o != "allocated"
                             and "backordered" not in o})
        log(f"   round {r + 1}: {count['allocated']} allocated, {count['backordered']} "
            f"backordered, {count['untouched']} untouched; {count['reserved']} units "
            f"reserved ({count['level_reserved']} on the levels, of {count['on_hand']}); "
            f"{seen.seconds:.3f} s; answers {dict(Counter(seen.statuses))}"
            + (f"; also: {unexpected[:3]}" if unexpected else ""))
    return counts, answers


@bench("race", kinds=("postgresql",))
def race(db: BenchDB) -> dict:
    """50 reservations released together against 10 units, 20 rounds, gunicorn on PostgreSQL.

    ``--quick``: 2 rounds.
    """
    from bench.suites_load import _analyse, free_port, start_server, stop_server

    rounds = db.scale(ROUNDS)
    app = make_app(db)
    usernames, plan = build_data(app, rounds=rounds, requests=REQUESTS, units=UNITS)
    with app.app_context():
        _analyse(db)
    with tempfile.TemporaryDirectory(prefix="erp-race-") as tmp:
        port = free_port()
        server_log = Path(tmp) / "gunicorn.log"
        server = start_server(db.url, port, WORKERS, server_log)
        log(f"   gunicorn -w {WORKERS} on port {port}")
        try:
            counts, answers = play(app, f"http://127.0.0.1:{port}", usernames, plan)
        finally:
            stop_server(server)
        text = server_log.read_text(errors="replace")
        if "Traceback" in text:
            log("   gunicorn log (tail):\n" + text[-3000:])
    with app.app_context():
        from erp.extensions import db as sqla
        from erp.warehouse.queries import ledger_problems

        problems = ledger_problems(sqla.session)
        sqla.session.remove()  # its connection back to the pool, which dispose() closes
        sqla.engine.dispose()
    figures = _summary(counts, answers)
    log(f"   successes per round {figures['successes_per_round']}, "
        f"{figures['errors_5xx']} 5xx, median {figures['seconds_per_round']:.3f} s a round; "
        f"ledger {'balances' if not problems else 'DOES NOT balance'}")
    return {"n": REQUESTS * rounds, "rounds": rounds, "requests_per_round": REQUESTS,
            "units_per_round": UNITS, "seconds": figures["seconds_per_round"], **figures,
            "ledger_ok": not problems, "workers": WORKERS}
