"""Tracking numbers: ranges allocated by the carrier, drawn under a lock, never reused.

A range belongs to one service. S10 ranges (shared/reference/shipping.md, section 1) have two
service letters as ``prefix`` and the issuing country as ``suffix``; each serial gets the UPU
mod-11 check digit. Free-form (courier) ranges give ``prefix + serial`` zero-padded to
``width`` + ``suffix``.

Numbers are drawn like document numbers (:mod:`erp.core.numbering`): a single
``UPDATE tracking_range SET next_serial = next_serial + n ... RETURNING next_serial`` takes
the row lock (PostgreSQL) or the write lock (SQLite), so two transactions never get the same
number; ``next_serial`` only grows, so a number is never given twice, even when the parcel that
had it is voided. When a range cannot give all the numbers asked for, it gives what it has left
and the rest comes from the service's next active range (in the order they were loaded).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pycountry
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.core.i18n import format_number as fmt_number
from erp.extensions import db
from erp.shipping import s10
from erp.shipping.errors import ShippingError
from erp.shipping.models import ShippingService, TrackingKind, TrackingRange
from erp.shipping.services.carriers import whole_number_error

#: an Integer column holds up to 2**31 - 1, and next_serial may be last_serial + 1
MAX_SERIAL = 2_147_483_646
MAX_S10_SERIAL = 99_999_999
FREE_PART_RE = re.compile(r"^[A-Z0-9]{0,20}$")
#: the most numbers one call may draw
MAX_DRAW = 100_000


# --------------------------------------------------------------------------- formatting


def format_number(rng: TrackingRange, serial: int, kind: TrackingKind) -> str:
    """Return the tracking number of ``serial`` in ``rng``."""
    if kind == TrackingKind.s10:
        return s10.make(rng.prefix, serial, rng.suffix)
    return f"{rng.prefix}{serial:0{rng.width}d}{rng.suffix}"


def _numbers(prefix: str, suffix: str, width: int, kind: TrackingKind, start: int,
             count: int) -> list[str]:
    if kind == TrackingKind.s10:
        return [s10.make(prefix, serial, suffix) for serial in range(start, start + count)]
    return [f"{prefix}{serial:0{width}d}{suffix}" for serial in range(start, start + count)]


# --------------------------------------------------------------------------- ranges


def _whole(value: Any, *, field: str, label, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or value is None or str(value).strip() == "":
        raise ValidationError(whole_number_error(label, minimum, maximum), field=field)
    try:
        number = int(str(value).strip().replace(",", ""))
    except ValueError:
        raise ValidationError(whole_number_error(label, minimum, maximum, repr(value)),
                              field=field) from None
    if not minimum <= number <= maximum:
        raise ValidationError(whole_number_error(label, minimum, maximum,
                                                 fmt_number(number)), field=field)
    return number


def _clean_s10_parts(prefix: Any, suffix: Any) -> tuple[str, str]:
    prefix = str(prefix or "").strip().upper()
    if not re.match(r"^[A-Z]{2}$", prefix):
        raise ValidationError(_("%(prefix)s is not an S10 prefix: use the two service letters "
                                "the carrier gave, e.g. RR or LK.",
                                prefix=repr(prefix) if prefix else _("An empty prefix")),
                              field="prefix")
    if prefix[0] in s10.RESERVED_FIRST_LETTERS:
        raise ValidationError(_("S10 service letters beginning with %(letter)s are reserved (J, "
                                "K, S, T and W); check the prefix the carrier gave.",
                                letter=prefix[0]), field="prefix")
    suffix = str(suffix or "").strip().upper()
    if not re.match(r"^[A-Z]{2}$", suffix) or pycountry.countries.get(alpha_2=suffix) is None:
        raise ValidationError(_("%(suffix)s is not a country code: an S10 number ends with the "
                                "ISO code of the issuing post's country, e.g. CN.",
                                suffix=repr(suffix) if suffix else _("An empty suffix")),
                              field="suffix")
    return prefix, suffix


def _clean_free_parts(prefix: Any, suffix: Any) -> tuple[str, str]:
    prefix = str(prefix or "").strip().upper()
    suffix = str(suffix or "").strip().upper()
    if not FREE_PART_RE.match(prefix):
        raise ValidationError(_("The prefix %(value)s may hold only letters and digits, at most "
                                "20.", value=repr(prefix)), field="prefix")
    if not FREE_PART_RE.match(suffix):
        raise ValidationError(_("The suffix %(value)s may hold only letters and digits, at most "
                                "20.", value=repr(suffix)), field="suffix")
    return prefix, suffix


def add_range(service: ShippingService, *, prefix: str, first_serial: int, last_serial: int,
              suffix: str = "", warn_below: int = 500, width: int | None = None,
              actor) -> TrackingRange:
    """Load a range of tracking numbers the carrier allocated for ``service``.

    S10 services: ``prefix`` two letters not beginning with J, K, S, T or W; ``suffix`` an ISO
    country code; serials 0 to 99,999,999 (8 digits). Free-form: ``prefix``/``suffix`` letters
    and digits, ``width`` the zero-padded serial digits (default: the last serial's), and the
    whole number 6 to 40 characters.

    :raises ValidationError: for a bad prefix, suffix, serials or warning level.
    :raises ShippingError: if the serials overlap a range already loaded with the same prefix
        and suffix (any service): a number must never be given twice.
    """
    kind = service.tracking_kind
    if kind == TrackingKind.s10:
        prefix, suffix = _clean_s10_parts(prefix, suffix)
        maximum, width = MAX_S10_SERIAL, 8
    else:
        prefix, suffix = _clean_free_parts(prefix, suffix)
        maximum = MAX_SERIAL
    first = _whole(first_serial, field="first_serial", label=_("The first serial"), minimum=0,
                   maximum=maximum)
    last = _whole(last_serial, field="last_serial", label=_("The last serial"), minimum=0,
                  maximum=maximum)
    if last < first:
        raise ValidationError(_("The last serial (%(last)s) must not be below the first "
                                "(%(first)s).", last=fmt_number(last),
                                first=fmt_number(first)), field="last_serial")
    warn = _whole(warn_below, field="warn_below", label=_("The running-low warning level"),
                  minimum=0, maximum=MAX_SERIAL)
    if kind != TrackingKind.s10:
        digits = len(str(last))
        width = digits if width in (None, "") else _whole(
            width, field="width", label=_("The serial width"), minimum=1, maximum=12)
        if digits > width:
            raise ValidationError(_("The last serial %(last)s has %(digits)s digits, more than "
                                    "the width of %(width)s.", last=fmt_number(last),
                                    digits=digits, width=width), field="width")
        sample = f"{prefix}{last:0{width}d}{suffix}"
        if not s10.FREE_FORM.match(sample):
            raise ValidationError(_('A number such as "%(sample)s" must have 6 to 40 letters and '
                                    "digits; change the prefix, suffix or width.",
                                    sample=sample), field="width")
    clash = db.session.scalar(select(TrackingRange).where(
        TrackingRange.prefix == prefix, TrackingRange.suffix == suffix,
        TrackingRange.first_serial <= last, TrackingRange.last_serial >= first)
        .order_by(TrackingRange.id).limit(1))
    if clash is not None:
        loading = f"{prefix} {first:,}-{last:,} {suffix}".rstrip()
        raise ShippingError(_(
            "To load %(range)s, you must correct the serials: they overlap the range "
            "%(first)s-%(last)s already loaded for %(service)s, and a tracking number is never "
            "given twice.", range=loading, first=fmt_number(clash.first_serial),
            last=fmt_number(clash.last_serial), service=clash.service.name),
            field="first_serial")
    rng = TrackingRange(service_id=service.id, prefix=prefix, suffix=suffix, width=width,
                        first_serial=first, last_serial=last, next_serial=first,
                        warn_below=warn, active=True,
                        created_by_id=getattr(actor, "id", None))
    db.session.add(rng)
    db.session.flush()
    audit.record(rng, "tracking_range.created", actor=actor, changes={
        "service": service.code, "prefix": [None, prefix], "suffix": [None, suffix],
        "width": [None, width], "first_serial": [None, first], "last_serial": [None, last],
        "warn_below": [None, warn]})
    return rng


def set_range_active(rng: TrackingRange, active: bool, *, actor) -> TrackingRange:
    """Stop drawing from a range, or draw from it again (its next serial is kept)."""
    active = bool(active)
    if rng.active != active:
        rng.active = active
        audit.record(rng, "tracking_range.reactivated" if active
                     else "tracking_range.deactivated", actor=actor,
                     changes={"service": rng.service.code, "active": [not active, active]})
        db.session.flush()
    return rng


def set_warn_below(rng: TrackingRange, warn_below: int, *, actor) -> TrackingRange:
    """Change the remaining count under which the range is reported running low."""
    warn = _whole(warn_below, field="warn_below", label=_("The running-low warning level"),
                  minimum=0, maximum=MAX_SERIAL)
    if rng.warn_below != warn:
        audit.record(rng, "tracking_range.updated", actor=actor, changes={
            "service": rng.service.code, "warn_below": [rng.warn_below, warn]})
        rng.warn_below = warn
        db.session.flush()
    return rng


def service_ranges(service: ShippingService) -> list[TrackingRange]:
    """Return the ranges of a service in the order they are drawn from."""
    return list(db.session.scalars(select(TrackingRange).where(
        TrackingRange.service_id == service.id).order_by(TrackingRange.id)))


def remaining_numbers(service: ShippingService) -> int:
    """Return how many numbers the service's active ranges have left."""
    return sum(r.remaining for r in service_ranges(service) if r.active)


def ranges_running_low() -> list[TrackingRange]:
    """Return the active ranges with fewer numbers left than their warning level.

    A range counts only while its service as a whole is low: once a follow-on range is loaded
    with enough numbers, the old range stops being reported.
    """
    return _running_low(db.session.scalars(
        select(TrackingRange).where(TrackingRange.active.is_(True))
        .order_by(TrackingRange.service_id, TrackingRange.id)).all())


def _running_low(ranges: Sequence) -> list:
    """Return the ranges running low, by :func:`ranges_running_low`'s rule.

    Each range has ``service_id``, ``remaining`` and ``warn_below`` (a model, or a row).
    """
    total: dict[int, int] = defaultdict(int)
    for rng in ranges:
        total[rng.service_id] += rng.remaining
    return [rng for rng in ranges
            if rng.remaining < rng.warn_below and total[rng.service_id] < rng.warn_below]


#: what the rule reads of each active range, as columns (``remaining`` as the model computes it)
_ACTIVE_RANGE_FIGURES = (select(TrackingRange.service_id,
                                (TrackingRange.last_serial + 1 - TrackingRange.next_serial)
                                .label("remaining"), TrackingRange.warn_below)
                         .where(TrackingRange.active.is_(True)))


def count_ranges_running_low() -> int:
    """Return how many ranges :func:`ranges_running_low` returns, reading columns only."""
    return len(_running_low(db.session.connection().execute(_ACTIVE_RANGE_FIGURES).all()))


# --------------------------------------------------------------------------- drawing


def _take_all(range_id: int, count: int):
    """Advance the range by ``count`` if it has that many left; return the row or None."""
    stmt = (update(TrackingRange)
            .where(TrackingRange.id == range_id, TrackingRange.active.is_(True),
                   TrackingRange.next_serial + count <= TrackingRange.last_serial + 1)
            .values(next_serial=TrackingRange.next_serial + count)
            .returning(TrackingRange.next_serial, TrackingRange.prefix, TrackingRange.suffix,
                       TrackingRange.width))
    return db.session.execute(stmt, execution_options={"synchronize_session": False}).first()


def _take_rest(range_id: int, count: int) -> tuple[int, int, Any] | None:
    """Take what is left of the range (less than ``count``): return (start, taken, row)."""
    # The no-op update locks the row and reads its current values; nothing can move it until
    # this transaction ends, so the second update below cannot race.
    locked = db.session.execute(
        update(TrackingRange)
        .where(TrackingRange.id == range_id, TrackingRange.active.is_(True),
               TrackingRange.next_serial <= TrackingRange.last_serial)
        .values(next_serial=TrackingRange.next_serial)
        .returning(TrackingRange.next_serial, TrackingRange.last_serial, TrackingRange.prefix,
                   TrackingRange.suffix, TrackingRange.width),
        execution_options={"synchronize_session": False}).first()
    if locked is None:
        return None
    taken = min(count, locked.last_serial + 1 - locked.next_serial)
    db.session.execute(
        update(TrackingRange).where(TrackingRange.id == range_id)
        .values(next_serial=locked.next_serial + taken),
        execution_options={"synchronize_session": False})
    return locked.next_serial, taken, locked


def draw_numbers(service: ShippingService, count: int, *, actor) -> list[str]:
    """Draw ``count`` new tracking numbers for ``service``, in serial order.

    :raises ShippingError: naming the service when its active ranges cannot give them all
        (nothing is drawn then: the caller rolls back).
    """
    count = int(count)
    if count <= 0:
        return []
    if count > MAX_DRAW:
        raise ShippingError(_("At most %(most)s tracking numbers can be drawn at once.",
                              most=fmt_number(MAX_DRAW)))
    kind = service.tracking_kind
    candidates = db.session.scalars(select(TrackingRange.id).where(
        TrackingRange.service_id == service.id, TrackingRange.active.is_(True),
        TrackingRange.next_serial <= TrackingRange.last_serial)
        .order_by(TrackingRange.id)).all()
    numbers: list[str] = []
    drawn: list[tuple[int, int, int]] = []  # (range id, first serial, count)
    for range_id in candidates:
        needed = count - len(numbers)
        row = _take_all(range_id, needed)
        if row is not None:
            start, taken = row.next_serial - needed, needed
        else:
            rest = _take_rest(range_id, needed)
            if rest is None:
                continue
            start, taken, row = rest
        numbers.extend(_numbers(row.prefix, row.suffix, row.width, kind, start, taken))
        drawn.append((range_id, start, taken))
        if len(numbers) == count:
            break
    if len(numbers) < count:
        raise ShippingError(_(
            "%(service)s (%(code)s) has no tracking numbers left: %(asked)s asked for, "
            "%(available)s available. Load a new range from the carrier under Shipping > "
            "Carriers.", service=service.name, code=service.code, asked=fmt_number(count),
            available=fmt_number(len(numbers))))
    for range_id, start, taken in drawn:
        rng = db.session.get(TrackingRange, range_id)
        if rng is not None:
            db.session.refresh(rng, ["next_serial"])
            audit.record(rng, "tracking_range.drawn", actor=actor, changes={
                "service": service.code, "count": taken,
                "first": format_number(rng, start, kind),
                "last": format_number(rng, start + taken - 1, kind)})
    return numbers


def first_range(service_id) -> Any:
    """Return a scalar subquery of the range the service's next number comes from.

    The range :func:`draw_numbers` draws from first; ``service_id`` is a value or a column,
    so it rides along a query that runs anyway.
    """
    return (select(TrackingRange.id).where(
        TrackingRange.service_id == service_id, TrackingRange.active.is_(True),
        TrackingRange.next_serial <= TrackingRange.last_serial)
        .order_by(TrackingRange.id).limit(1).scalar_subquery())


_RANGE = TrackingRange.__table__
_TAKE_ONE = (update(_RANGE)
             .where(_RANGE.c.id == bindparam("range_id"), _RANGE.c.active.is_(True),
                    _RANGE.c.next_serial <= _RANGE.c.last_serial)
             .values(next_serial=_RANGE.c.next_serial + 1)
             .returning(_RANGE.c.next_serial, _RANGE.c.prefix, _RANGE.c.suffix, _RANGE.c.width))


def draw_from_range(range_id: int, service: ShippingService, *, actor) -> str | None:
    """Draw one tracking number from the range ``range_id`` of ``service`` (one statement).

    ``range_id`` is the service's first range with numbers left (:func:`first_range`), read
    by the caller; the draw is audited as :func:`draw_numbers` audits it. Returns None when the
    range has no number left by now (a concurrent draw took the last): the caller then draws
    with :func:`draw_numbers`, which moves on to the next range or says none is left.
    """
    row = db.session.execute(_TAKE_ONE, {"range_id": range_id}).first()
    if row is None:
        return None
    number = _numbers(row.prefix, row.suffix, row.width, service.tracking_kind,
                      row.next_serial - 1, 1)[0]
    loaded = db.session.identity_map.get(identity_key(TrackingRange, range_id))
    if loaded is not None:
        set_committed_value(loaded, "next_serial", row.next_serial)
    audit.record_many("tracking_range", "tracking_range.drawn", [(range_id, None, {
        "service": service.code, "count": 1, "first": number, "last": number})], actor=actor)
    return number


def draw_number(service: ShippingService, *, actor) -> str:
    """Draw one new tracking number for ``service``."""
    return draw_numbers(service, 1, actor=actor)[0]
