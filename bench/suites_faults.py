"""The ``faults`` benchmark (issue 20): PostgreSQL restarted, Redis stopped, workers killed.

Everything runs on servers of its own (:mod:`bench.faults_infra`): a private PostgreSQL
cluster and a private Redis, so restarting and stopping them disturbs nobody. The ``load``
benchmark's data is built in the cluster, then the real app runs under ``gunicorn -w 4``
beside ``erp worker`` (RQ) and ``erp ticker``, all on the private Redis. A supervisor restarts
the worker or the ticker when one exits, as systemd would (``Restart=always``); how often is
reported.

A steady load runs throughout, in threads of this process (:class:`Load`): packers pack and
label their picked orders, receivers receive purchase order lines, an office member signs in
afresh again and again, and the storefront posts orders to ``/api/v1/orders``, each with an
``Idempotency-Key``, retried with the same key (and back-off) after a connection error, a 5xx,
409 or 429. Every request's outcome is recorded.

The faults, one after another, with the load running:

1. PostgreSQL restarted in fast mode: ``pg_recovery_seconds`` is the time from PostgreSQL
   accepting connections again to the end of the app's first successful request started after
   that; ``failed_per_connection`` is the requests that failed from the restart until then over
   the pooled connections the app held before it.
2. Redis stopped (2 minutes): report jobs are submitted during the outage and ``/ready`` is
   probed (it should answer 200 ``degraded``); ``redis_drain_seconds`` is the time from Redis
   answering again until every job submitted during the outage has finished (None when one
   did not finish: it failed, or was still waiting at the limit).
3. A gunicorn worker killed with SIGKILL every 10 s for 60 s: every request must get an answer
   or a connection error (``timeouts`` counts those that got neither in 30 s).
4. The RQ work horse of a running report job killed with SIGKILL: the job must end failed or be
   retried (at most 3 attempts: ``job_attempts``), and its download must never offer a partial
   file (``job_download``: none, or a complete workbook); ``job_kill_ok`` says all held.

After each fault the load pauses while ``erp check-ledger`` and ``erp check-audit`` run on the
private database (``ledger_ok``, ``audit_ok``: every run passed; ``audit_ok`` is None when the
command does not exist). At the end ``lost_or_duplicated`` counts the API orders acknowledged
(2xx) but missing, the orders present twice by number, and the half-written documents (an
order, parcel or receipt without lines, an acknowledged order whose lines differ).
"""

from __future__ import annotations

import contextlib
import gc
import html
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from http.cookiejar import CookieJar
from io import BytesIO
from pathlib import Path

from bench import faults_infra
from bench.runner import BenchDB, bench, log, make_app
from bench.suites_race import flashes, form_fields

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30  # seconds a request may take before it counts as unanswered
CHECK_TIMEOUT = 300  # seconds erp check-ledger / check-audit may take
MAX_ATTEMPTS = 3  # a killed report job may run at most this often (the limit)
SIGNER, MANAGER = "faults-signer", "faults-manager"
CODE_STEP = "/login/code"  # the sign-in's second step, for an account with two-factor sign-in
_INPUT = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'([\w:.-]+)="([^"]*)"')


@dataclass(frozen=True)
class Plan:
    """How long each part lasts and how big the load is (seconds, threads)."""

    warmup: float = 10.0
    settle: float = 5.0  # load running normally after each fault, before the checks
    redis_down: float = 120.0
    redis_jobs: int = 3  # report jobs submitted while Redis is down
    drain_limit: float = 75.0  # how long to wait for them once Redis is back
    kill_every: float = 10.0
    kill_for: float = 60.0
    horse_limit: float = 120.0  # how long the killed job may take to end (retried or failed)
    packers: int = 4
    receivers: int = 2
    api_threads: int = 2
    think: float = 0.4  # seconds between one member of staff's requests (0.5x to 1.5x)
    per_packer: int = 40
    per_receiver: int = 3
    stale_seconds: int = 15  # ERP_JOBS_STALE_SECONDS of the app
    skus: int = 5_000  # the catalog (the load benchmark's data, smaller: a background)
    check_each: bool = True  # check-ledger and check-audit after each fault (else at the end)


FULL = Plan()
QUICK = Plan(warmup=3, settle=2, redis_down=8, redis_jobs=2, drain_limit=30, kill_every=3,
             kill_for=7, horse_limit=40, stale_seconds=10, packers=2, receivers=1,
             api_threads=1, think=0.3, per_packer=10, per_receiver=2,
             skus=20_000)  # a tenth: 2,000, enough for every receiver's purchase orders


# --------------------------------------------------------------------------- recording


@dataclass
class Rec:
    """One HTTP request: who, what, when (``time.time()``), the status (0: none) and verdict."""

    kind: str  # "staff", "api", "signin", "jobs", "probe"
    name: str
    start: float
    end: float
    status: int
    ok: bool
    why: str = ""


class Recorder:
    """Every request's outcome, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[Rec] = []

    def add(self, rec: Rec) -> None:
        """Keep ``rec``."""
        with self.lock:
            self.records.append(rec)

    def snapshot(self) -> list[Rec]:
        """Return the records so far."""
        with self.lock:
            return list(self.records)


class Gate:
    """Lets the load run, or holds it (between requests) while the checks read the database."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.go.set()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.busy = 0

    @contextlib.contextmanager
    def step(self):
        """Wrap one request: wait while held, count it as in flight."""
        while not self.go.wait(0.2):
            if self.stopping.is_set():
                break
        with self.lock:
            self.busy += 1
        try:
            yield
        finally:
            with self.lock:
                self.busy -= 1

    def hold(self, limit: float = 60) -> None:
        """Stop new requests and wait until those in flight have ended."""
        self.go.clear()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with self.lock:
                if self.busy == 0:
                    return
            time.sleep(0.05)

    def release(self) -> None:
        """Let the load run again."""
        self.go.set()

    def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless stopping; return whether to go on."""
        return not self.stopping.wait(seconds)


@dataclass
class Answer:
    """An HTTP answer: status (0 when there was none), headers, body and the verdict."""

    status: int
    location: str = ""
    body: str = ""
    headers: dict = field(default_factory=dict)
    ok: bool = False
    why: str = ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # every request is one request: a 302 comes back as it is


class Client:
    """A browser session (cookies, CSRF token) or an API client; every request is recorded."""

    def __init__(self, base: str, recorder: Recorder, gate: Gate | None, kind: str):
        self.base, self.recorder, self.gate, self.kind = base, recorder, gate, kind
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect())
        self.token: str | None = None

    def call(self, name: str, path: str, *, form: dict | None = None,
             json_body: dict | None = None, headers: dict | None = None,
             expect: tuple[int, ...] = (200,), text: str | None = None,
             raw: bool = False) -> Answer:
        """Send one request; record it; ``ok`` when the status is expected and no refusal."""
        gate = self.gate.step() if self.gate is not None else contextlib.nullcontext()
        with gate:
            return self._call(name, path, form, json_body, headers or {}, expect, text, raw)

    def _call(self, name, path, form, json_body, headers, expect, text, raw) -> Answer:
        data = None
        if form is not None:
            data = urllib.parse.urlencode({**form, "csrf_token": self.token or ""}).encode()
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            headers = {**headers, "Content-Type": "application/json"}
        request = urllib.request.Request(self.base + path, data=data, headers=headers,
                                         method="POST" if data is not None else "GET")
        start = time.time()
        answer = Answer(0)
        try:
            with self.opener.open(request, timeout=TIMEOUT) as response:
                answer = Answer(response.status, response.headers.get("Location", ""),
                                self._read(response, raw), dict(response.headers))
        except urllib.error.HTTPError as err:
            with err:
                answer = Answer(err.code, err.headers.get("Location", ""),
                                self._read(err, raw), dict(err.headers))
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            answer.why = "timeout" if isinstance(reason, TimeoutError | socket.timeout) \
                else "connection"
        end = time.time()
        if answer.status:
            answer.ok = answer.status in expect
            if not answer.ok:
                answer.why = f"HTTP {answer.status}"
                if self.kind == "api" and 400 <= answer.status < 500:
                    answer.why += f": {answer.body[:160]}"  # what the API refused
            elif not raw and "text/html" in answer.headers.get("Content-Type", ""):
                errors = [message for category, message in flashes(answer.body)
                          if category == "error"]
                if errors:
                    answer.ok, answer.why = False, f"refused: {errors[0][:100]}"
                elif text and text not in answer.body:
                    answer.ok, answer.why = False, f"no {text!r} on the page"
                # the session's token (a new one after sign-in: the session id changes)
                self.token = _csrf(answer.body) or self.token
        self.recorder.add(Rec(self.kind, name, start, end, answer.status, answer.ok,
                              answer.why))
        return answer

    @staticmethod
    def _read(response, raw: bool):
        body = response.read()
        return body if raw else body.decode("utf-8", "replace")

    def submit(self, name: str, path: str, form: dict, *, text: str | None = None) -> bool:
        """POST a form that redirects on success, then GET where it leads; return success."""
        answer = self.call(name, path, form=form, expect=(302,))
        if not answer.ok:
            return False
        return self.call(name + " (page)", _path(answer.location), text=text).ok

    def sign_in(self, username: str, password: str, secret: str | None = None) -> bool:
        """Sign in through the login form; return whether the session is signed in.

        An account with two-factor sign-in then gives its authenticator's code (pyotp with
        the enrolled ``secret``). The login page sends a signed-in session on to the home page.
        """
        form = self.call("login: form", "/login", expect=(200, 302))
        if form.status == 302:
            return not _path(form.location).startswith("/login")
        if not form.ok:
            return False
        answer = self.call("login: sign in", "/login", expect=(302,),
                           form={"username": username, "password": password})
        where = _path(answer.location)
        if answer.ok and where.startswith(CODE_STEP) and secret:
            import pyotp

            if not self.call("login: code form", CODE_STEP).ok:
                return False
            answer = self.call("login: code", CODE_STEP, expect=(302,),
                               form={"code": pyotp.TOTP(secret).now()})
            where = _path(answer.location)
        if not answer.ok or where.startswith("/login"):
            return False
        self.call("home", where or "/")
        return True


def _csrf(page: str) -> str | None:
    """Return the page's CSRF token (any form's: one token serves the whole session)."""
    return next((a["value"] for a in _inputs(page)
                 if a.get("name", "").endswith("csrf_token") and a.get("value")), None)


def _inputs(page: str) -> list[dict[str, str]]:
    return [{name.lower(): html.unescape(value) for name, value in _ATTR.findall(tag)}
            for tag in _INPUT.findall(page)]


def receivable_lines(page: str) -> list[dict]:
    """Return the receiving screen's lines that may still receive: id and room left.

    (The locustfile's reading, without importing locust.)
    """
    return [{"id": int(a["name"][4:]), "room": int(a["data-max"])} for a in _inputs(page)
            if a.get("name", "").startswith("qty-") and int(a.get("data-max") or 0) > 0]


def field_value(page: str, name: str) -> str:
    """Return the value of the page's input called ``name`` ("" when absent)."""
    return next((a.get("value", "") for a in _inputs(page) if a.get("name") == name), "")


def _path(location: str) -> str:
    parts = urllib.parse.urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --------------------------------------------------------------------------- the load


@dataclass
class ApiOrder:
    """One storefront order: what was sent, and what the API answered in the end."""

    number: str
    lines: int
    attempts: int = 0
    status: int = 0  # the final answer's status (0: none)
    acknowledged: bool = False
    retried: bool = False  # it needed more than one attempt
    mismatch: str = ""  # a 2xx whose body is not this order


class Load:
    """The simulated staff and storefront, in threads, until :meth:`stop`."""

    def __init__(self, base: str, work: dict, plan: Plan, token: str, skus: list[str]):
        self.base, self.work, self.plan, self.token, self.skus = base, work, plan, token, skus
        self.recorder = Recorder()
        self.gate = Gate()
        self.threads: list[threading.Thread] = []
        self.orders: list[ApiOrder] = []
        self.orders_lock = threading.Lock()
        self.replays = Counter()  # "same": a replay gave the original answer; "different"
        self.counts = Counter()  # parcels labelled, lines received, sign-ins, orders abandoned
        self.run_id = uuid.uuid4().hex[:6].upper()

    def start(self) -> None:
        """Start every simulated person."""
        accounts = list(self.work["warehouse"])
        roles = [self._packer] * self.plan.packers + [self._receiver] * self.plan.receivers
        for k, role in enumerate(roles):
            self._spawn(role, accounts[k], f"staff-{k}")
        self._spawn(self._signer, self.work["signer"], "signer")
        for k in range(self.plan.api_threads):
            self._spawn(self._storefront, k, f"api-{k}")

    def _spawn(self, target, arg, name: str) -> None:
        thread = threading.Thread(target=self._guard, args=(target, arg), name=name,
                                  daemon=True)
        self.threads.append(thread)
        thread.start()

    def _guard(self, target, arg) -> None:
        try:
            target(arg)
        except Exception as err:  # noqa: BLE001 - a harness bug must show, not hang the run
            note(f"load thread {threading.current_thread().name} crashed: {err!r}")
            self.counts["thread_crashes"] += 1

    def stop(self) -> None:
        """Stop every thread (each ends its current request first)."""
        self.gate.stopping.set()
        self.gate.release()
        for thread in self.threads:
            thread.join(TIMEOUT + 30)

    def think(self) -> bool:
        """Pause between two requests of one person; return whether to go on."""
        return self.gate.sleep(self.plan.think * random.uniform(0.5, 1.5))

    def _staff(self, username: str) -> Client | None:
        client = Client(self.base, self.recorder, self.gate, "staff")
        secret = self.work.get("totp", {}).get(username)
        while not self.gate.stopping.is_set():
            if client.sign_in(username, self.work["password"], secret):
                return client
            self.think()
        return None

    # ---------------------------------------------------------------- packers and receivers

    def _packer(self, account: dict) -> None:
        client = self._staff(account["username"])
        orders = list(account["orders"])
        while client is not None and self.think():
            if not orders:
                client.call("parcels: list", "/shipping/parcels")
                continue
            order = orders.pop(0)
            if not self._pack(client, account, order):
                self.counts["orders_abandoned"] += 1  # left part-packed: never retried

    def _pack(self, client: Client, account: dict, order: dict) -> bool:
        base = f"/shipping/packing/{order['id']}"
        found = client.call("packing: scan order",
                            f"/shipping/packing?q={urllib.parse.quote(order['number'])}",
                            expect=(302,))
        if not found.ok or not client.call("packing: order", _path(found.location)).ok:
            return False
        for code in order["scan"]:
            if not self.think() or not client.submit(
                    "packing: scan item", f"{base}/scan", {"code": code, "quantity": "1"},
                    text="scanned."):
                return False
        if not self.think() or not client.submit(
                "packing: close parcel", f"{base}/close",
                {"box": account["box"], "weight_g": str(order["weight_g"]), "length_mm": "",
                 "width_mm": "", "height_mm": "", "service": ""},
                text="The order is packed"):
            return False
        if not self.think() or not client.submit("packing: label", f"{base}/label", {},
                                                 text="Labelled:"):
            return False
        self.counts["parcels_labelled"] += 1
        return True

    def _receiver(self, account: dict) -> None:
        client = self._staff(account["username"])
        pending = list(account["purchase_orders"])
        while client is not None and self.think():
            if not pending:
                client.call("stock: list", "/warehouse/stock")
                continue
            number = pending[0]
            pending.append(pending.pop(0))
            found = client.call("receiving: find order",
                                f"/procurement/receiving?number={urllib.parse.quote(number)}",
                                expect=(302,))
            if not found.ok:
                continue
            url = urllib.parse.urlsplit(found.location).path
            screen = client.call("receiving: order", url)
            if not screen.ok:
                continue
            lines = receivable_lines(screen.body)
            if not lines:
                pending.remove(number)
                continue
            delivery = lines[:2]
            quantities = {f"qty-{line['id']}": str(min(3, line["room"])) for line in delivery}
            if self.think() and client.submit(
                    "receiving: receive", url,
                    {"scan": "", "bin": field_value(screen.body, "bin"),
                     "note": f"Delivery of {number}", "action": "receive", **quantities},
                    text="received into"):
                self.counts["receipts"] += 1

    # ---------------------------------------------------------------- sign-in, storefront

    def _signer(self, username: str) -> None:
        """Sign in afresh (a new session each time), read a page, again and again."""
        while self.think():
            client = Client(self.base, self.recorder, self.gate, "signin")
            if client.sign_in(username, self.work["password"]):
                self.counts["sign_ins"] += 1
                client.call("orders: list", "/orders/")
            self.gate.sleep(1.0)

    def _payload(self, number: str, k: int) -> dict:
        skus = self.skus
        return {
            "number": number, "placed_at": "2026-11-20T10:00:00Z",
            "customer_name": "Fault Buyer", "email": f"buyer{k}@example.com",
            "shipping_address": {"name": "Fault Buyer", "address1": f"Hauptstrasse {k}",
                                 "city": "Berlin", "postal_code": "10115", "country": "DE"},
            "currency": "EUR", "shipping_charge": "4.90", "shipping_service": "POST-REG",
            "lines": [{"sku": skus[(k * 7 + j * 13) % len(skus)], "quantity": 1,
                       "unit_price": "19.90"} for j in range(1 + k % 3)]}

    def _storefront(self, thread: int) -> None:
        client = Client(self.base, self.recorder, self.gate, "api")
        k = 0
        while self.gate.sleep(self.plan.think * random.uniform(0.5, 1.5)):
            k += 1
            number = f"FLT-{self.run_id}-{thread}-{k:05d}"
            payload = self._payload(number, k)
            order = ApiOrder(number, len(payload["lines"]))
            with self.orders_lock:
                self.orders.append(order)
            self._post_order(client, order, payload, check_replay=k % 5 == 0)

    def _post_order(self, client: Client, order: ApiOrder, payload: dict, *,
                    check_replay: bool) -> None:
        """Post until an answer that is not worth a retry; retries keep the key (back-off)."""
        headers = {"Authorization": f"Bearer {self.token}",
                   "Idempotency-Key": f"key-{order.number}"}
        delay = 0.2
        first: Answer | None = None
        for attempt in range(1, 41):  # about 75 s: past the app's 30 s idempotency lease
            order.attempts = attempt
            answer = client.call("api: post order", "/api/v1/orders", json_body=payload,
                                 headers=headers, expect=(200, 201))
            order.status = answer.status
            if answer.ok:
                order.acknowledged, order.retried = True, attempt > 1
                order.mismatch = _order_mismatch(answer.body, payload)
                first = answer
                break
            if answer.status and answer.status < 500 and answer.status not in (409, 429):
                return  # refused (422 ...): a retry would be refused too
            if not self.gate.sleep(delay):
                return
            delay = min(delay * 2, 2.0)
        if first is None or not check_replay:
            return
        # the storefront sends the same request again (a retry after a lost answer):
        # the same key must give the original answer, and create nothing
        again = client.call("api: replay order", "/api/v1/orders", json_body=payload,
                            headers=headers, expect=(200, 201))
        if again.ok:
            same = again.status == first.status and _same_json(again.body, first.body)
            self.replays["same" if same else "different"] += 1

    # ---------------------------------------------------------------- figures

    def api_figures(self) -> dict:
        """Figures of the storefront's orders."""
        with self.orders_lock:
            orders = list(self.orders)
        return {"api_orders": len(orders),
                "api_acknowledged": sum(o.acknowledged for o in orders),
                "api_retried_then_acknowledged": sum(o.retried for o in orders),
                "api_unanswered": sum(not o.acknowledged for o in orders),
                "api_wrong_answer": sum(bool(o.mismatch) for o in orders),
                "replays_same": self.replays["same"],
                "replays_different": self.replays["different"]}


def _same_json(one: str, other: str) -> bool:
    try:
        return json.loads(one) == json.loads(other)
    except ValueError:
        return one == other


def _order_mismatch(body: str, payload: dict) -> str:
    """Return why the API's answer is not the order posted ("" when it is)."""
    try:
        got = json.loads(body)
    except ValueError:
        return "not JSON"
    if got.get("number") != payload["number"]:
        return f"number {got.get('number')!r}"
    sent = sorted((line["sku"], line["quantity"]) for line in payload["lines"])
    answered = sorted((line.get("sku"), line.get("quantity")) for line in got.get("lines", []))
    return "" if sent == answered else f"lines {answered} for {sent}"


# --------------------------------------------------------------------------- the processes


class Stack:
    """The private servers and the app's processes; :meth:`close` ends them all."""

    def __init__(self, plan: Plan, tmp: Path):
        self.plan, self.tmp = plan, tmp
        self.pg = faults_infra.PrivatePostgres()
        self.redis = faults_infra.PrivateRedis()
        self.server: subprocess.Popen | None = None
        self.port = faults_infra.free_port()
        self.daemons: dict[str, subprocess.Popen] = {}
        self.restarts = Counter()
        self.watching = threading.Event()
        self.watcher: threading.Thread | None = None
        self.env: dict[str, str] = {}

    @property
    def base(self) -> str:
        """The app's address."""
        return f"http://127.0.0.1:{self.port}"

    def start_servers(self) -> None:
        """Create the cluster and start Redis."""
        self.pg.init()
        self.redis.start()
        from bench.suites_load import SECRET_KEY

        self.env = {"ERP_DATABASE_URL": self.pg.url, "ERP_SECRET_KEY": SECRET_KEY,
                    "ERP_REDIS_URL": self.redis.url, "ERP_SECURE_COOKIES": "0",
                    "ERP_API_RATE_LIMIT": "100000 per minute",
                    "ERP_LOGIN_RATE_LIMIT": "10000 per minute",
                    "ERP_TWO_FACTOR_REQUIRED": "0",  # the staff enrolled sign in with codes
                    "ERP_JOBS_TIMEOUT": "600",
                    # a killed job is retried after this long without a heartbeat (60 s by
                    # default): shorter, so the benchmark need not wait a minute for it
                    "ERP_JOBS_STALE_SECONDS": str(self.plan.stale_seconds)}

    def start_app(self) -> None:
        """Start gunicorn (4 workers), ``erp worker`` and ``erp ticker``, and their watcher."""
        from bench.suites_load import start_server

        # a busy machine (the other benchmarks, the test suite) slows four workers' boot
        self.server = start_server(self.pg.url, self.port, 4, self.tmp / "gunicorn.log",
                                   env=self.env, boot_seconds=240)
        for name in ("worker", "ticker"):
            self._start_daemon(name)
        self.watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)
        self.watcher.start()

    def _start_daemon(self, name: str) -> None:
        logfile = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed at the end
        proc = subprocess.Popen(
            [sys.executable, "-c", "from erp.cli import main; main()", name], cwd=ROOT,
            env={**os.environ, **self.env}, stdout=logfile, stderr=subprocess.STDOUT)
        proc.logfile = logfile
        self.daemons[name] = proc

    def _watch(self) -> None:
        """Restart the worker or the ticker after it exits, 2 s later (systemd's way)."""
        while not self.watching.wait(0.5):
            for name, proc in list(self.daemons.items()):
                if proc.poll() is not None:
                    proc.logfile.close()
                    if self.watching.wait(2):
                        return
                    self.restarts[name] += 1
                    self._start_daemon(name)

    def run_cli(self, *commands: list[str]) -> list[tuple[int, str]]:
        """Run each ``erp`` command (side by side) on the private database.

        Returns each one's exit code and output.
        """
        procs = [subprocess.Popen([sys.executable, "-c", "from erp.cli import main; main()",
                                   *args], cwd=ROOT, env={**os.environ, **self.env},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for args in commands]
        results = []
        for proc in procs:
            try:
                out, _ = proc.communicate(timeout=CHECK_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                out += f"\n(killed after {CHECK_TIMEOUT} s)"
            results.append((proc.returncode, out.strip()))
        return results

    def gunicorn_workers(self) -> list[int]:
        """Return the pids of gunicorn's workers."""
        return faults_infra.children(self.server.pid) if self.server else []

    def close(self) -> None:
        """Stop everything (the app first), remove the servers' directories."""
        from bench.suites_load import stop_server

        self.watching.set()
        if self.watcher is not None:
            self.watcher.join(10)
        for proc in self.daemons.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            proc.logfile.close()
        for pid in self._horses():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if self.server is not None:
            stop_server(self.server)
        self.redis.close()
        self.pg.close()

    def _horses(self) -> list[int]:
        worker = self.daemons.get("worker")
        return faults_infra.children(worker.pid) if worker and worker.poll() is None else []


# --------------------------------------------------------------------------- the database


class Db:
    """The harness's own look at the private database (not through the app)."""

    def __init__(self, url: str):
        from sqlalchemy import create_engine

        self.engine = create_engine(url, pool_pre_ping=True,
                                    connect_args={"application_name": "faults-harness"})

    def scalar(self, sql: str, **params):
        """Return the first column of the first row of ``sql``."""
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params) -> list:
        """Return every row of ``sql``."""
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def app_connections(self) -> int:
        """Return how many connections the app's processes hold now."""
        return int(self.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "AND application_name NOT IN ('faults-harness', 'faults-probe')") or 0)

    def job(self, job_id: str) -> dict | None:
        """Return the job row's state, progress, error, result path (and attempts, if kept)."""
        columns = {c for (c,) in self.rows(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'background_job' AND table_schema = current_schema()")}
        wanted = ["state", "progress", "error", "result_path"] + \
            (["attempts"] if "attempts" in columns else [])
        row = self.rows(f"SELECT {', '.join(wanted)} FROM background_job WHERE id = :id",
                        id=job_id)
        return dict(zip(wanted, row[0], strict=True)) if row else None

    def close(self) -> None:
        """Close the pool."""
        self.engine.dispose()


# --------------------------------------------------------------------------- the faults


@dataclass
class Window:
    """A fault's time span (``time.time()``)."""

    name: str
    start: float
    end: float = 0.0


class Faults:
    """Runs the four faults against a running :class:`Stack` under a running :class:`Load`."""

    def __init__(self, stack: Stack, load: Load, db: Db, plan: Plan, manager: str,
                 password: str):
        self.stack, self.load, self.db, self.plan = stack, load, db, plan
        self.manager, self.password = manager, password
        self.windows: list[Window] = []
        self.figures: dict = {}
        self.checks: list[dict] = []
        self.probes = Recorder()
        self.jobs_client: Client | None = None

    # ---------------------------------------------------------------- helpers

    def _window(self, name: str) -> Window:
        window = Window(name, time.time())
        self.windows.append(window)
        return window

    def check(self, after: str) -> None:
        """Hold the load, run check-ledger and check-audit, let the load go on."""
        self.load.gate.hold()
        try:
            (ledger_code, ledger_out), (audit_code, audit_out) = self.stack.run_cli(
                ["check-ledger"], ["check-audit"])
        finally:
            self.load.gate.release()
        audit_ok = None if "No such command" in audit_out else audit_code == 0
        self.checks.append({"after": after, "ledger_ok": ledger_code == 0,
                            "audit_ok": audit_ok})
        note(f"after {after}: check-ledger {'passes' if ledger_code == 0 else 'FAILS'}, "
            f"check-audit {'missing' if audit_ok is None else 'passes' if audit_ok else 'FAILS'}")
        for name, code, out in (("check-ledger", ledger_code, ledger_out),
                                ("check-audit", audit_code, audit_out)):
            if code != 0 and "No such command" not in out:
                note(f"  {name}: {out[-800:]}")

    def _manager(self) -> Client:
        if self.jobs_client is None:
            client = Client(self.stack.base, self.load.recorder, None, "jobs")
            for _ in range(20):
                if client.sign_in(self.manager, self.password):
                    break
                time.sleep(1)
            else:
                raise RuntimeError(f"{self.manager} could not sign in to start report jobs")
            self.jobs_client = client
        return self.jobs_client

    def submit_report(self, name: str) -> str | None:
        """Start report ``name`` through the reports screen; return the job id (None: refused)."""
        client = self._manager()
        page = client.call("reports: list", "/reports/excel")
        if not page.ok:
            return None
        fields = form_fields(page.body, f"/reports/excel/{name}") or {}
        today = date.today()
        fields.pop("csrf_token", None)
        answer = client.call("reports: run", f"/reports/excel/{name}", expect=(302,),
                             form={**fields, "date_to": today.isoformat(),
                                   "date_from": (today - timedelta(days=90)).isoformat()})
        path = urllib.parse.urlsplit(answer.location).path
        if not answer.ok or "/jobs/" not in path:
            return None
        return path.rsplit("/", 1)[1]

    def _probe(self, path: str, every: float, until: threading.Event) -> None:
        client = Client(self.stack.base, self.probes, None, "probe")
        while not until.wait(every):
            client.call(path, path, expect=(200,))

    # ---------------------------------------------------------------- 1. PostgreSQL

    def pg_restart(self) -> None:
        """Restart PostgreSQL in fast mode; measure the app's recovery."""
        pooled = self.db.app_connections()
        done = threading.Event()
        prober = threading.Thread(target=self._probe, args=("/health", 0.05, done),
                                  daemon=True)
        prober.start()
        time.sleep(0.5)
        window = self._window("pg_restart")
        up_at: list[float] = []

        def watch_up() -> None:  # PostgreSQL's side: when it is down, then accepting again
            seen_down = False
            while not done.is_set():
                if self.stack.pg.accepting(timeout=1):
                    if seen_down:
                        up_at.append(time.time())
                        return
                else:
                    seen_down = True
                time.sleep(0.02)

        watcher = threading.Thread(target=watch_up, daemon=True)
        watcher.start()
        self.stack.pg.restart_fast()
        watcher.join(30)
        deadline = time.time() + 60
        recovered = None
        while time.time() < deadline and up_at and recovered is None:
            time.sleep(0.2)
            recovered = _first_success_after(self._all_records(), up_at[0])
        time.sleep(2)
        done.set()
        prober.join(5)
        window.end = time.time()
        up = up_at[0] if up_at else None
        # the load's requests (not the probes) that failed from the restart to the recovery;
        # those started while PostgreSQL refused connections had no server to talk to, the
        # others (cut off by the restart, or on a stale pooled connection) count per connection
        until = recovered.end if recovered else window.end
        failed = [r for r in self.load.recorder.snapshot()
                  if not r.ok and r.end >= window.start and r.start <= until]
        while_down = [r for r in failed if up and window.start <= r.start < up]
        self.figures.update({
            "pg_recovery_seconds": round(recovered.end - up, 3) if recovered and up else None,
            "pg_down_seconds": round(up - window.start, 3) if up else None,
            "pg_failed_requests": len(failed), "pg_failed_while_down": len(while_down),
            "pg_pooled_connections": pooled,
            "failed_per_connection": round((len(failed) - len(while_down)) / max(pooled, 1),
                                           2)})
        note(f"PostgreSQL restarted: accepting again after {self.figures['pg_down_seconds']} s;"
            f" the app served again {self.figures['pg_recovery_seconds']} s later; "
            f"{len(failed)} failed request(s) over {pooled} pooled connection(s) "
            f"({Counter(r.why for r in failed).most_common(3)})")

    def _all_records(self) -> list[Rec]:
        return self.load.recorder.snapshot() + self.probes.snapshot()

    # ---------------------------------------------------------------- 2. Redis

    def redis_outage(self) -> None:
        """Stop Redis; submit report jobs and probe /ready meanwhile; measure the drain."""
        plan = self.plan
        self._manager()  # signed in while everything works
        window = self._window("redis_down")
        self.stack.redis.stop()
        ready: list[tuple[int, str]] = []
        done = threading.Event()

        def probe_ready() -> None:
            client = Client(self.stack.base, self.probes, None, "probe")
            time.sleep(1)
            while not done.wait(2):
                answer = client.call("/ready", "/ready", expect=(200,))
                try:
                    status = json.loads(answer.body).get("status", "?")
                except (ValueError, AttributeError):
                    status = "?"
                ready.append((answer.status, status))

        prober = threading.Thread(target=probe_ready, daemon=True)
        prober.start()
        jobs: list[str] = []
        refused = 0
        gap = plan.redis_down / (plan.redis_jobs + 1)
        for _ in range(plan.redis_jobs):
            time.sleep(gap)
            job_id = self.submit_report("purchase_spend")
            if job_id:
                jobs.append(job_id)
            else:
                refused += 1
        time.sleep(max(0.0, window.start + plan.redis_down - time.time()))
        done.set()
        prober.join(10)
        self.stack.redis.start()
        back = time.time()
        window.end = back
        states = {}
        drained_at = None
        while time.time() < back + plan.drain_limit:
            states = {job_id: (self.db.job(job_id) or {}).get("state") for job_id in jobs}
            if all(state in ("finished", "failed") for state in states.values()):
                drained_at = time.time()
                break
            time.sleep(0.25)
        finished = sum(1 for s in states.values() if s == "finished")
        degraded = sum(1 for status, word in ready if status == 200 and word == "degraded")
        records = [r for r in self.load.recorder.snapshot()
                   if window.start <= r.start <= window.end and r.kind != "jobs"]
        self.figures.update({
            "redis_drain_seconds": round(drained_at - back, 3)
            if drained_at and jobs and finished == len(jobs) else None,
            "redis_jobs_submitted": len(jobs), "redis_jobs_refused": refused,
            "redis_jobs_finished": finished,
            "redis_jobs_states": dict(Counter(str(s) for s in states.values())),
            "ready_probes": len(ready), "ready_degraded": degraded,
            "ready_answers": dict(Counter(f"{s} {w}" for s, w in ready)),
            "redis_down_requests": len(records),
            "redis_down_errors": sum(not r.ok for r in records)})
        note(f"Redis down {plan.redis_down:.0f} s: {len(records)} requests, "
            f"{self.figures['redis_down_errors']} failed "
            f"({Counter(r.name + ': ' + r.why for r in records if not r.ok).most_common(4)}); "
            f"/ready answered {self.figures['ready_answers']}; jobs {dict(states)}, "
            f"{refused} refused; drained in {self.figures['redis_drain_seconds']} s")

    # ---------------------------------------------------------------- 3. gunicorn workers

    def kill_workers(self) -> None:
        """SIGKILL a gunicorn worker every ``kill_every`` seconds for ``kill_for`` seconds."""
        plan = self.plan
        window = self._window("worker_kills")
        killed = 0
        while time.time() < window.start + plan.kill_for:
            time.sleep(plan.kill_every)
            workers = self.stack.gunicorn_workers()
            if workers:
                with contextlib.suppress(OSError):
                    os.kill(random.choice(workers), signal.SIGKILL)
                    killed += 1
        time.sleep(plan.settle)
        window.end = time.time()
        records = [r for r in self.load.recorder.snapshot()
                   if window.start <= r.start <= window.end]
        self.figures.update({
            "workers_killed": killed, "kill_requests": len(records),
            "kill_connection_errors": sum(r.why == "connection" for r in records),
            "kill_5xx": sum(r.status >= 500 for r in records),
            "timeouts": sum(r.why == "timeout" for r in self.load.recorder.snapshot())})
        note(f"{killed} gunicorn workers killed: {len(records)} requests, "
            f"{self.figures['kill_connection_errors']} connection errors, "
            f"{self.figures['kill_5xx']} 5xx, {self.figures['timeouts']} unanswered")

    # ---------------------------------------------------------------- 4. a report job

    def kill_job(self) -> None:
        """SIGKILL the work horse of a running report job; see how the job ends."""
        window = self._window("job_killed")
        job_id, killed_at, progress = None, None, None
        for _ in range(4):  # a job that finishes before we catch it running: another one
            job_id = self.submit_report("inventory_valuation")
            if job_id is None:
                continue
            deadline = time.time() + 60
            while time.time() < deadline:
                row = self.db.job(job_id) or {}
                horses = self.stack._horses()
                if row.get("state") == "running" and horses:
                    time.sleep(0.05)
                    for pid in self.stack._horses():
                        with contextlib.suppress(OSError):
                            os.kill(pid, signal.SIGKILL)
                            killed_at = time.time()
                    progress = (self.db.job(job_id) or {}).get("progress")
                    break
                if row.get("state") in ("finished", "failed"):
                    break
                time.sleep(0.02)
            if killed_at:
                break
        row: dict = {}
        while killed_at and time.time() < killed_at + self.plan.horse_limit:
            row = self.db.job(job_id) or {}
            if row.get("state") in ("finished", "failed"):
                break
            time.sleep(0.5)
        offered = self._download_offered(job_id) if job_id else None
        attempts = row.get("attempts")
        window.end = time.time()
        settled = row.get("state") in ("finished", "failed")
        # retried: a new run has begun (still running at the limit, on a slow machine)
        retried = attempts is not None and attempts >= 2
        self.figures.update({
            "job_killed": bool(killed_at), "job_progress_at_kill": progress,
            "job_state_after_kill": row.get("state"), "job_attempts": attempts,
            "job_settle_seconds": round(window.end - killed_at, 1) if killed_at and settled
            else None,
            "job_kill_ok": bool(killed_at) and (settled or retried)
            and (attempts is None or attempts <= MAX_ATTEMPTS) and offered != "partial",
            "job_download": offered})
        note(f"report job {job_id}: work horse killed at {progress}% -> "
            f"{row.get('state')} (attempts {attempts}); download: {offered}")

    def _download_offered(self, job_id: str) -> str:
        """Return "none" (no file offered), "complete" (a whole workbook) or "partial"."""
        client = self._manager()
        answer = client.call("jobs: download", f"/reports/jobs/{job_id}/download",
                             expect=(200, 404), raw=True)
        if answer.status != 200:
            return "none"
        try:
            with zipfile.ZipFile(BytesIO(answer.body)) as book:
                if book.testzip() is not None or "xl/workbook.xml" not in book.namelist():
                    return "partial"
        except (zipfile.BadZipFile, OSError):
            return "partial"
        return "complete"


def note(message: str) -> None:
    """Progress on standard error, with the time of day (the faults follow each other)."""
    log(f"   [{time.strftime('%H:%M:%S')}] {message}")


def _first_success_after(records: list[Rec], moment: float) -> Rec | None:
    """Return the first successful request started at or after ``moment`` (by its end)."""
    done = [r for r in records if r.ok and r.start >= moment]
    return min(done, key=lambda r: r.end) if done else None


# --------------------------------------------------------------------------- outcome


def documents(db: Db, load: Load) -> dict:
    """Count lost, duplicated and half-written documents."""
    with load.orders_lock:
        acknowledged = {o.number: o for o in load.orders if o.acknowledged}
    present = dict(db.rows("SELECT o.number, count(l.id) FROM customer_order o "
                           "LEFT JOIN customer_order_line l ON l.order_id = o.id "
                           "WHERE o.number LIKE :prefix GROUP BY o.id, o.number",
                           prefix=f"FLT-{load.run_id}-%"))
    lost = sorted(n for n in acknowledged if n not in present)
    wrong_lines = sorted(n for n, o in acknowledged.items()
                         if n in present and present[n] != o.lines)
    duplicated = int(db.scalar("SELECT coalesce(sum(c - 1), 0) FROM (SELECT count(*) AS c "
                               "FROM customer_order GROUP BY number HAVING count(*) > 1) d")
                     or 0)
    half = {
        "orders_without_lines": db.scalar(
            "SELECT count(*) FROM customer_order o WHERE NOT EXISTS "
            "(SELECT 1 FROM customer_order_line l WHERE l.order_id = o.id)"),
        "parcels_without_lines": db.scalar(
            "SELECT count(*) FROM parcel p WHERE NOT EXISTS "
            "(SELECT 1 FROM parcel_line l WHERE l.parcel_id = p.id)"),
        "receipts_without_lines": db.scalar(
            "SELECT count(*) FROM receipt r WHERE NOT EXISTS "
            "(SELECT 1 FROM receipt_line l WHERE l.receipt_id = r.id)")}
    half_written = sum(int(v or 0) for v in half.values()) + len(wrong_lines)
    for number in lost[:5]:
        note(f"LOST: order {number} was acknowledged but is not in the database")
    return {"lost": len(lost), "duplicated": duplicated, "half_written": half_written,
            "lost_or_duplicated": len(lost) + duplicated + half_written,
            "orders_in_db": len(present), **{k: int(v or 0) for k, v in half.items()}}


def summary(records: list[Rec]) -> dict:
    """Return the request counts and times of the load."""
    times = sorted((r.end - r.start) * 1000 for r in records if r.ok)
    failed = [r for r in records if not r.ok]
    return {"requests": len(records), "errors": len(failed),
            "p50_ms": round(statistics.median(times), 1) if times else None,
            "errors_by_kind": dict(Counter(r.kind for r in failed)),
            "errors_by_reason": dict(Counter(r.why.split(":")[0] for r in failed)
                                     .most_common(6))}


# --------------------------------------------------------------------------- the benchmark


def prepare(stack: Stack, bench_db: BenchDB, plan: Plan) -> tuple[dict, str, list[str]]:
    """Build the ``load`` data on the private cluster; an API token; stamp the schema."""
    import flask_migrate
    from sqlalchemy import select

    from bench.suites_load import build_data
    from erp.catalog.models import Sku
    from erp.core import services as core_services
    from erp.extensions import db as sqla
    from erp.orders import services as order_services

    app = make_app(bench_db)
    work = build_data(bench_db, app, per_packer=plan.per_packer,
                      per_receiver=plan.per_receiver, skus=plan.skus)
    with app.app_context():
        # built by create_all: stamped at the heads, so /ready says ready
        flask_migrate.stamp(revision="heads")
        _token, plaintext = order_services.create_api_token("faults storefront", actor=None)
        # accounts of their own, with a password alone: the sign-in loop signs in every few
        # seconds (an authenticator's code is refused twice in its 30 s step) and the manager
        # starts the report jobs (the roles' two-factor rule is off on this server)
        for username, role in ((SIGNER, "customer_service"), (MANAGER, "manager")):
            core_services.create_user(username=username, full_name=f"Faults {role}",
                                      password=work["password"], roles=[role], actor=None)
        skus = list(sqla.session.scalars(
            select(Sku.code).where(Sku.status == "active", Sku.hs_code.is_not(None),
                                   Sku.customs_description.is_not(None), Sku.weight_g < 500)
            .order_by(Sku.id).limit(200)))
        sqla.session.commit()
        sqla.engine.dispose()
    work["signer"] = SIGNER
    return work, plaintext, skus


def run_faults(bench_db: BenchDB, plan: Plan, only: tuple[str, ...] | None = None) -> dict:
    """Run the benchmark with ``plan`` (``only``: the faults to run, by name; default all)."""
    selected = only or ("pg_restart", "redis_outage", "kill_workers", "kill_job")
    reason = faults_infra.missing()
    if reason:
        raise RuntimeError(f"the faults benchmark cannot run here: {reason}")
    with tempfile.TemporaryDirectory(prefix="erp-faults-") as tmp:
        stack = Stack(plan, Path(tmp))
        load = db = None
        try:
            stack.start_servers()
            note(f"private PostgreSQL (port {stack.pg.port}) and Redis (port "
                 f"{stack.redis.port}) running")
            private = replace(bench_db, kind="postgresql", url=stack.pg.url)
            work, token, skus = prepare(stack, private, plan)
            stack.start_app()
            db = Db(stack.pg.url)
            load = Load(stack.base, work, plan, token, skus)
            started = time.time()
            load.start()
            note(f"gunicorn -w 4 on port {stack.port}, erp worker and erp ticker; load: "
                f"{plan.packers} packers, {plan.receivers} receivers, a sign-in loop, "
                f"{plan.api_threads} storefront thread(s)")
            faults = Faults(stack, load, db, plan, manager=MANAGER, password=work["password"])
            time.sleep(plan.warmup)
            for name in selected:
                getattr(faults, name)()
                time.sleep(plan.settle)
                if plan.check_each or name == selected[-1]:
                    faults.check(name)
            load.stop()
            took = time.time() - started
            outcome = documents(db, load)
            records = load.recorder.snapshot()
            figures = {**summary(records), **faults.figures,
                       "failures": [(r.name, r.why[:120]) for r in records if not r.ok],
                       **load.api_figures(), **outcome,
                       "ledger_ok": all(c["ledger_ok"] for c in faults.checks),
                       "audit_ok": None if any(c["audit_ok"] is None for c in faults.checks)
                       else all(c["audit_ok"] for c in faults.checks),
                       "checks": faults.checks, "seconds": round(took, 1),
                       "daemon_restarts": dict(stack.restarts),
                       "parcels_labelled": load.counts["parcels_labelled"],
                       "receipts": load.counts["receipts"], "sign_ins": load.counts["sign_ins"],
                       "orders_abandoned": load.counts["orders_abandoned"],
                       "thread_crashes": load.counts["thread_crashes"],
                       "faults": list(selected)}
        finally:
            if load is not None:
                load.stop()
            if db is not None:
                db.close()
            _tail_logs(Path(tmp))
            stack.close()
            # connections of this process that the restart cut (the pools' and the probes')
            # are collected now, quietly: a ResourceWarning later would come from nowhere
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()
    return figures


def _tail_logs(tmp: Path) -> None:
    """Show the end of a server log that holds a traceback (a crash to look at)."""
    for name in ("gunicorn.log", "worker.log", "ticker.log"):
        path = tmp / name
        if path.exists():
            text = path.read_text(errors="replace")
            if "Traceback" in text:
                note(f"{name}: {text.count('Traceback')} traceback(s); the last:\n"
                    + text[text.rfind("Traceback"):][:1500])


@bench("faults", kinds=("postgresql",), own_server=faults_infra.missing)
def faults(db: BenchDB) -> dict:
    """PostgreSQL restarted, Redis down 2 minutes, workers and a job killed, under load.

    ``--quick``: the same faults, shortened (Redis down 8 s, 2 worker kills), on a tenth of
    the data.
    """
    plan = QUICK if db.quick else FULL
    figures = run_faults(db, plan)
    for (name, why), count in Counter(figures.pop("failures")).most_common(8):
        note(f"{count:>5} x {name}: {why}")
    note(f"{figures['requests']:,} requests, {figures['errors']} failed; lost or duplicated: "
        f"{figures['lost_or_duplicated']} ({figures['lost']} lost, {figures['duplicated']} "
        f"duplicated, {figures['half_written']} half written); ledger "
        f"{'ok' if figures['ledger_ok'] else 'NOT ok'}, audit {figures['audit_ok']}")
    return {"n": figures["requests"], **figures}
