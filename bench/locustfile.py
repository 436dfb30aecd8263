"""Locust users of the ``load`` benchmark: a warehouse floor and its office, in the browser.

Run by ``bench/suites_load.py`` (``locust -f bench/locustfile.py --headless ...``), which sets
``ERP_LOAD_WORK`` to a JSON file naming the accounts, the shared password and each warehouse
account's own work: the picked orders waiting for it at the packing bench and the purchase
orders it receives. No two simulated users share an order.

- **Packers** scan an order at Shipping > Packing, scan each item, close the parcel with the box
  and the weight, label it, and go on with their next order.
- **Receivers** open a purchase order's receiving screen, scan an item, and receive a few lines.
- **Office staff** (purchasing, customer service, managers) search SKUs and read the order,
  parcel and stock lists, an order's page and the home dashboard.
- The **storefront** (``load_100`` only: the work file has an ``api`` entry) posts orders to
  ``POST /api/v1/orders`` with its Bearer token, each of its users at a constant pace, so that
  together they send ``api.per_second`` orders a second; each order is new (201).

Everyone signs in once through the login form with its CSRF token, then gives the code of its
authenticator (pyotp, from the secret enrolled for the account), and thinks 0.5 to 2 seconds
between steps. Redirects are followed by hand, so every HTTP request is measured on its own. A
4xx/5xx, an unexpected redirect (such as to the login page), a refusal (``flash-error``) or a
missing success message counts as a failure.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import os
import random
import re
import time
from collections import deque
from urllib.parse import quote, urlsplit

from locust import HttpUser, between, constant_throughput, events, task
from locust.exception import StopUser

_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'([\w:.-]+)="([^"]*)"')
_FLASH_ERROR = re.compile(r'class="flash flash-error"[^>]*>(.*?)</div>', re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


def load_work(path: str | None) -> dict:
    """Return the work file's content; an empty floor when no file is given (an import check)."""
    if not path:
        return {"password": "", "warehouse": [], "office": [],
                "browse": {"order_ids": [], "search": []}}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


WORK = load_work(os.environ.get("ERP_LOAD_WORK"))
#: each warehouse account (with its own orders and purchase orders) goes to one user only
WAREHOUSE_ACCOUNTS = deque(WORK["warehouse"])
OFFICE_ACCOUNTS = deque(WORK["office"])
#: the storefront: token, users, orders a second, SKU codes and order number prefix (or none)
API = WORK.get("api") or {}
#: the orders a second of each storefront user: together ``per_second``
API_RATE_PER_USER = API.get("per_second", 1) / max(1, API.get("users", 1))
_API_NUMBERS = itertools.count(1)
#: when each simulated user finished signing in; and (start, milliseconds) of every request
SIGNED_IN: list[float] = []
SAMPLES: list[tuple[float, float]] = []


def percentile(values: list[float], pct: float) -> float:
    """Return the nearest-rank ``pct`` percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)])


def signed_in_figures(samples: list[tuple[float, float]], signed_in: list[float],
                      users: int) -> dict:
    """Return the response times of the requests started once every user had signed in.

    The first seconds are a sign-in storm (every user hashes its password at once), which
    staff spread over a morning; these figures are the floor at work.
    """
    if not signed_in:
        return {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    ordered = sorted(signed_in)
    since = ordered[min(users, len(ordered)) - 1]
    times = [ms for start, ms in samples if start >= since]
    return {"n": len(times), **{f"p{pct}_ms": round(percentile(times, pct), 1)
                                for pct in (50, 95, 99)}}


@events.request.add_listener
def _record(response_time, start_time=None, **_kwargs) -> None:
    started = start_time if start_time is not None else time.time() - response_time / 1000
    SAMPLES.append((started, response_time))


@events.quitting.add_listener
def _write_signed_in_figures(environment, **_kwargs) -> None:
    path = os.environ.get("ERP_LOAD_SIGNED_IN")
    if not path:
        return
    options = environment.parsed_options
    users = getattr(options, "num_users", None) or len(SIGNED_IN)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(signed_in_figures(SAMPLES, SIGNED_IN, users), fh)


def inputs(page: str) -> list[dict[str, str]]:
    """Return the attributes of every ``<input>`` of an HTML page, values unescaped."""
    return [{name.lower(): html.unescape(value) for name, value in _ATTR.findall(tag)}
            for tag in _INPUT.findall(page)]


def csrf_token(page: str) -> str | None:
    """Return the first CSRF token of a page's forms (one token serves the whole session)."""
    for attrs in inputs(page):
        if attrs.get("name", "").endswith("csrf_token") and attrs.get("value"):
            return attrs["value"]
    return None


def refusal(page: str) -> str | None:
    """Return the text of the page's first error message (a refusal), or None."""
    match = _FLASH_ERROR.search(page)
    if match is None:
        return None
    return " ".join(html.unescape(_TAGS.sub(" ", match.group(1))).split())[:160]


def receivable_lines(page: str) -> list[dict]:
    """Return the receiving screen's lines that may still receive: id, barcode, room left."""
    lines = []
    for attrs in inputs(page):
        name = attrs.get("name", "")
        if name.startswith("qty-") and int(attrs.get("data-max") or 0) > 0:
            lines.append({"id": int(name[4:]), "barcode": attrs.get("data-barcode") or
                          attrs.get("data-sku"), "room": int(attrs["data-max"])})
    return lines


def field_value(page: str, name: str) -> str:
    """Return the value of the page's input called ``name`` ("" when absent)."""
    for attrs in inputs(page):
        if attrs.get("name") == name:
            return attrs.get("value", "")
    return ""


class StaffUser(HttpUser):
    """A member of staff in the browser: signs in once, checks every answer."""

    abstract = True
    wait_time = between(0.5, 2)  # staff think between scans and clicks

    token: str | None = None

    # -------------------------------------------------------------------- requests

    def _check(self, response, expect: int, expect_text: str | None) -> bool:
        if response.status_code != expect:
            where = response.headers.get("Location", "")
            response.failure(f"HTTP {response.status_code}, expected {expect}"
                             + (f" (to {urlsplit(where).path})" if where else ""))
            return False
        if "text/html" in response.headers.get("Content-Type", ""):
            page = response.text
            refused = refusal(page)
            if refused:
                response.failure(f"refused: {refused}")
                return False
            if expect_text and expect_text not in page:
                response.failure(f"no {expect_text!r} on the page")
                return False
            self.token = csrf_token(page) or self.token
        response.success()
        return True

    def get(self, url: str, name: str, *, expect: int = 200, expect_text: str | None = None):
        """GET ``url``; return the response, or None when it failed the checks."""
        with self.client.get(url, name=name, allow_redirects=False,
                             catch_response=True) as response:
            return response if self._check(response, expect, expect_text) else None

    def submit(self, url: str, data: dict, name: str, landing: str, *,
               expect_text: str | None = None):
        """POST a form that redirects on success, then GET where it leads (``landing``).

        Returns the landing page's response, or None when a step failed the checks.
        """
        with self.client.post(url, data={**data, "csrf_token": self.token}, name=name,
                              allow_redirects=False, catch_response=True) as response:
            if not self._check(response, 302, None):
                return None
            target = response.headers["Location"]
        return self.get(target, landing, expect_text=expect_text)

    def sign_in(self, username: str) -> None:
        """Sign in through the form, as a person does; stop this user if it is refused."""
        form = self.get("/login", "login: form")
        if form is None:
            raise StopUser()
        with self.client.post("/login", name="login: sign in", allow_redirects=False,
                              catch_response=True,
                              data={"username": username, "password": WORK["password"],
                                    "csrf_token": self.token}) as response:
            where = urlsplit(response.headers.get("Location", "")).path
            secret = WORK.get("totp", {}).get(username)
            expected = "/login/code" if secret else None
            if response.status_code != 302 or (where.startswith("/login")
                                               and where != expected):
                response.failure(f"{username} not signed in: HTTP {response.status_code} "
                                 f"{refusal(response.text) or ''}".strip())
                raise StopUser()
            response.success()
        if where == "/login/code":
            self.second_factor(username, secret)
        SIGNED_IN.append(time.time())
        self.get("/", "home")

    def second_factor(self, username: str, secret: str | None) -> None:
        """Give the code of the authenticator app (pyotp with the account's enrolled secret)."""
        import pyotp

        if not secret or self.get("/login/code", "login: code form") is None:
            raise StopUser()
        with self.client.post("/login/code", name="login: code", allow_redirects=False,
                              catch_response=True,
                              data={"code": pyotp.TOTP(secret).now(),
                                    "csrf_token": self.token}) as response:
            where = urlsplit(response.headers.get("Location", "")).path
            if response.status_code != 302 or where.startswith("/login"):
                response.failure(f"{username}: code refused: HTTP {response.status_code} "
                                 f"{refusal(response.text) or ''}".strip())
                raise StopUser()
            response.success()

    def browse_parcels(self) -> None:
        """Look at the parcel list (what a packer does when the bench is empty)."""
        self.get("/shipping/parcels", "parcels: list")


class Packer(StaffUser):
    """A packer at the packing bench, working through the orders picked for it."""

    weight = 6

    def on_start(self) -> None:
        """Take a warehouse account (and its orders) and sign in."""
        if not WAREHOUSE_ACCOUNTS:
            raise StopUser()
        account = WAREHOUSE_ACCOUNTS.popleft()
        self.orders = deque(account["orders"])
        self.box = account["box"]
        self.sign_in(account["username"])

    @task
    def pack_next_order(self) -> None:
        """Scan the order, each item, close the parcel (box, weight) and label it."""
        if not self.orders:
            self.browse_parcels()
            return
        order = self.orders.popleft()
        base = f"/shipping/packing/{order['id']}"
        found = self.get(f"/shipping/packing?q={quote(order['number'])}", "packing: scan order",
                         expect=302)
        if found is None or self.get(found.headers["Location"], "packing: order") is None:
            return
        for code in order["scan"]:
            self.wait()
            if self.submit(f"{base}/scan", {"code": code, "quantity": "1"},
                           "packing: scan item", "packing: order",
                           expect_text="scanned.") is None:
                return
        self.wait()
        if self.submit(f"{base}/close", {"box": self.box, "weight_g": str(order["weight_g"]),
                                         "length_mm": "", "width_mm": "", "height_mm": "",
                                         "service": ""},
                       "packing: close parcel", "packing: order",
                       expect_text="The order is packed") is None:
            return
        self.wait()
        self.submit(f"{base}/label", {}, "packing: label", "packing: order",
                    expect_text="Labelled:")


class Receiver(StaffUser):
    """A receiver at the goods-in door, receiving deliveries against its purchase orders."""

    weight = 4

    def on_start(self) -> None:
        """Take a warehouse account (and its purchase orders) and sign in."""
        if not WAREHOUSE_ACCOUNTS:
            raise StopUser()
        account = WAREHOUSE_ACCOUNTS.popleft()
        self.purchase_orders = deque(account["purchase_orders"])
        self.sign_in(account["username"])

    @task
    def receive_delivery(self) -> None:
        """Open a purchase order's receiving screen, scan an item, receive up to 3 lines."""
        if not self.purchase_orders:
            self.get("/warehouse/stock", "stock: list")
            return
        number = self.purchase_orders[0]
        self.purchase_orders.rotate(-1)  # deliveries of several orders come in turn
        found = self.get(f"/procurement/receiving?number={quote(number)}",
                         "receiving: find order", expect=302)
        if found is None:
            return
        url = urlsplit(found.headers["Location"]).path
        screen = self.get(url, "receiving: order")
        if screen is None:
            return
        lines = receivable_lines(screen.text)
        if not lines:
            self.purchase_orders.remove(number)  # received in full
            return
        bin_label = field_value(screen.text, "bin")
        delivery = lines[:3]
        self.wait()
        with self.client.post(url, name="receiving: scan item", allow_redirects=False,
                              catch_response=True,
                              data={"csrf_token": self.token, "scan": delivery[0]["barcode"],
                                    "bin": bin_label, "note": "", "action": "scan"}) as response:
            if not self._check(response, 200, None):
                return
            if field_value(response.text, f"qty-{delivery[0]['id']}") != "1":
                response.failure("the scan did not count 1 on its line")
                return
        self.wait()
        quantities = {f"qty-{line['id']}": str(min(5, line["room"])) for line in delivery}
        self.submit(url, {"scan": "", "bin": bin_label, "note": f"Delivery of {number}",
                          "action": "receive", **quantities},
                    "receiving: receive", "receiving: receipt", expect_text="received into")


class Office(StaffUser):
    """Purchasing, customer service or a manager: lists, searches and pages."""

    weight = 10

    def on_start(self) -> None:
        """Take an office account (reused in turn when there are more users) and sign in."""
        if not OFFICE_ACCOUNTS:
            raise StopUser()
        username = OFFICE_ACCOUNTS.popleft()
        OFFICE_ACCOUNTS.append(username)  # reading only: an account may serve two users
        self.sign_in(username)

    @task(3)
    def search_skus(self) -> None:
        """Search the SKU list."""
        term = random.choice(WORK["browse"]["search"] or ["SKU"])
        self.get(f"/catalog/skus?q={quote(term)}", "skus: search")

    @task(2)
    def order_list(self) -> None:
        """Read the order list, sometimes filtered by state."""
        state = random.choice(["", "", "new", "shipped", "on_hold"])
        self.get(f"/orders/?state={state}" if state else "/orders/", "orders: list")

    @task(2)
    def order_page(self) -> None:
        """Open an order."""
        ids = WORK["browse"]["order_ids"]
        if ids:
            self.get(f"/orders/{random.choice(ids)}", "orders: order")

    @task(1)
    def parcel_list(self) -> None:
        """Read the parcel list."""
        self.browse_parcels()

    @task(1)
    def stock_list(self) -> None:
        """Read the stock list."""
        self.get("/warehouse/stock", "stock: list")

    @task(1)
    def home(self) -> None:
        """Back to the home dashboard."""
        self.get("/", "home")


def api_order(number: str, n: int, skus: list[str]) -> dict:
    """Return the body of the storefront's ``n``-th order (one or two lines of ``skus``)."""
    country = ("DE", "FR", "GB", "US")[n % 4]
    postcode = {"DE": "10115", "FR": "75001", "GB": "SW1A 1AA", "US": "10001"}[country]
    currency = {"DE": "EUR", "FR": "EUR", "GB": "GBP", "US": "USD"}[country]
    return {
        "number": number, "placed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "customer_name": "Shop Buyer", "email": f"shopper{n}@example.com",
        "shipping_address": {"name": "Shop Buyer", "address1": f"Main Street {n}",
                             "city": "City", "postal_code": postcode, "country": country},
        "currency": currency, "shipping_charge": "4.90", "priority": 0,
        "lines": [{"sku": skus[(n * 7 + k * 13) % len(skus)], "quantity": 1 + (n + k) % 2,
                   "unit_price": "19.90"} for k in range(1 + n % 2)]}


class Storefront(HttpUser):
    """The web shop's server posting its customers' orders through the API.

    Only with an ``api`` entry in the work file: ``fixed_count`` users (started before the
    staff), each at ``per_second / users`` orders a second.
    """

    abstract = not API
    fixed_count = int(API.get("users", 0))
    wait_time = constant_throughput(API_RATE_PER_USER)

    @task
    def post_order(self) -> None:
        """Post a new order; anything but 201 is a failure."""
        n = next(_API_NUMBERS)
        number = f"{API['prefix']}{os.getpid()}-{n:07d}"
        with self.client.post("/api/v1/orders", name="api: order", catch_response=True,
                              json=api_order(number, n, API["skus"]),
                              headers={"Authorization": f"Bearer {API['token']}"}) as response:
            if response.status_code != 201:
                response.failure(f"HTTP {response.status_code}, expected 201: "
                                 f"{response.text[:200]}")
            else:
                response.success()
