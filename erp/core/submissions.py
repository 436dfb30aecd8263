"""Every submission acts once: one-time keys on the forms a person submits.

Each rendered form carries a fresh key (``{{ submission_field() }}`` beside its CSRF token). When
a signed-in user posts it, the key is inserted into ``form_submission`` *before* the view runs,
in the same transaction as the view's change, so:

- a repeat after the first committed (a double click, a retried post) finds the key and is
  answered with the first outcome ("Already done at 20:03 UTC by Wes Warehouse: ...") without
  running the view again;
- a repeat that arrives while the first is still running waits for it: on PostgreSQL its insert
  waits on the unique key, on SQLite its ``BEGIN IMMEDIATE`` waits for the lock, and then it finds
  the key;
- a first attempt that fails (a refusal, a form error) rolls the key back with everything else,
  so correcting the form and sending it again works.

A scanner screen renders a new page, and so a new key, after every scan: real repeated scans
still count. Posts without a key (the JSON API, which has ``Idempotency-Key``; scripts) act as
before. Keys are kept ``ERP_SUBMISSION_KEY_HOURS`` (default 24) and then purged
(:func:`purge`, run by ``erp purge-keys``).
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import timedelta

from flask import Flask, flash, g, has_request_context, redirect, request, session, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import delete, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from erp.core import transactions
from erp.core.models import FormSubmission, utcnow
from erp.extensions import db

FIELD = "_submission"
#: seconds a repeat waits for the first submission's outcome before answering without it
OUTCOME_WAIT_SECONDS = 3.0
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_key() -> str:
    """Return a fresh, unguessable submission key."""
    return secrets.token_urlsafe(18)


def submission_field() -> Markup:
    """Return the hidden input holding a fresh one-time key (for every POST form)."""
    return Markup('<input type="hidden" name="%s" value="%s">') % (FIELD, new_key())


def _posted_key() -> str | None:
    key = request.form.get(FIELD) if request.mimetype in (
        "application/x-www-form-urlencoded", "multipart/form-data") else None
    return key if key and _KEY.match(key) else None


def describe(row: FormSubmission) -> str:
    """Return the sentence that answers a repeat of ``row``'s submission."""
    from erp.core.i18n import _
    who = row.user.full_name if row.user else _("someone")
    when = row.created_at.strftime("%H:%M UTC") if row.created_at else ""
    text = _("Already done at %(time)s by %(name)s; nothing was done again.", time=when,
             name=who)
    if row.outcome:
        # the outcome is the first answer as its reader saw it, in that reader's language
        text = _("%(answer)s The first submission said: %(outcome)s", answer=text,
                 outcome=row.outcome)
    return text


def _settled(row: FormSubmission) -> FormSubmission:
    """Wait (briefly) for the first submission to record its outcome, and return the row.

    A repeat that waited on the first one's transaction can find its key committed a moment
    before the first answer records what it said and where it led (just after its commit).
    The reads here take no lock, so the first request can write while this one waits.
    """
    deadline = time.monotonic() + OUTCOME_WAIT_SECONDS
    row_id = row.id
    while row.location is None and time.monotonic() < deadline:
        db.session.rollback()
        time.sleep(0.05)
        with transactions.intent("read"):
            row = db.session.get(FormSubmission, row_id) or row
    return row


def _answer_repeat(row: FormSubmission):
    row = _settled(row)
    flash(describe(row), "info")
    target = row.location or request.referrer or url_for("core.home")
    return redirect(target)


def claim():
    """Before a view: store the posted key, or answer a repeat with the first outcome."""
    g.pop("erp_submission", None)
    g.pop("erp_submission_committed", None)
    if request.method != "POST" or not current_user.is_authenticated:
        return None
    key = _posted_key()
    if key is None:
        return None
    user_id = current_user.id
    existing = db.session.scalar(select(FormSubmission).where(
        FormSubmission.user_id == user_id, FormSubmission.key == key))
    if existing is not None:
        return _answer_repeat(existing)
    row = FormSubmission(key=key, user_id=user_id, endpoint=request.endpoint or "",
                         created_at=utcnow())
    db.session.add(row)
    try:
        db.session.flush()  # waits here for a first attempt still running (PostgreSQL)
    except IntegrityError:
        db.session.rollback()
        existing = db.session.scalar(select(FormSubmission).where(
            FormSubmission.user_id == user_id, FormSubmission.key == key))
        if existing is None:  # pragma: no cover - the first attempt rolled back meanwhile
            raise
        return _answer_repeat(existing)
    g.erp_submission = row.id
    return None


@event.listens_for(Session, "after_commit")
def _committed(session_):
    if has_request_context() and g.get("erp_submission"):
        g.erp_submission_committed = True


def record_outcome(response):
    """After a view that committed: keep what it said and where it led, for repeats."""
    sub_id = g.pop("erp_submission", None)
    if not sub_id or not g.pop("erp_submission_committed", False):
        return response
    messages = [m for c, m in session.get("_flashes", []) if c not in ("error", "warning")]
    outcome = messages[-1][:1000] if messages else None
    if response.status_code in (301, 302, 303, 307, 308) and response.location:
        location = response.location
    else:
        location = request.path
    if db.session.new or db.session.dirty or db.session.deleted:
        return response  # a view that left work unsaved after its commit: never commit it here
    db.session.execute(update(FormSubmission).where(FormSubmission.id == sub_id)
                       .values(outcome=outcome, location=location[:500]))
    db.session.commit()
    return response


def purge(hours: int, *, now=None) -> int:
    """Delete submission keys older than ``hours``; return how many went."""
    cutoff = (now or utcnow()) - timedelta(hours=hours)
    result = db.session.execute(delete(FormSubmission).where(FormSubmission.created_at < cutoff))
    return result.rowcount or 0


def init_app(app: Flask) -> None:
    """Register the key field for templates and the claim/outcome hooks.

    Called after :func:`erp.core.web.init_app`, so the sign-in check runs first.
    """
    app.jinja_env.globals["submission_field"] = submission_field
    app.before_request(claim)
    app.after_request(record_outcome)
