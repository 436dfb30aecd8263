"""Tracking numbers: S10 check digits, loading ranges, drawing under a lock, never reusing."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, select

from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.shipping import s10
from erp.shipping.errors import ShippingError
from erp.shipping.models import ShippingService, TrackingRange
from erp.shipping.services import tracking

# --------------------------------------------------------------------------- S10


@pytest.mark.parametrize(("serial", "digit", "number"), [
    ("47312482", 9, "RA473124829GB"),
    ("12345678", 5, "EE123456785CN"),
    ("00000001", 4, "RR000000014CN"),
    ("10000002", 5, "LK100000025CN"),   # 11 becomes 5
    ("10000014", 0, "LK100000140CN"),   # 10 becomes 0
])
def test_s10_worked_examples(serial, digit, number):
    assert s10.check_digit(serial) == digit
    assert s10.make(number[:2], int(serial), number[-2:]) == number
    assert s10.is_valid(number)
    assert s10.parse(number) == number


def test_s10_spaces_accepted_and_stored_without():
    assert s10.parse("RA 473 124 829 GB") == "RA473124829GB"
    assert s10.parse("ra473124829gb") == "RA473124829GB"


def test_s10_wrong_check_digit_refused():
    assert not s10.is_valid("RA473124828GB")
    with pytest.raises(ValidationError, match="wrong check digit: 8 where 9 is right"):
        s10.parse("RA473124828GB")


@pytest.mark.parametrize("text", ["RA47312482GB", "1A473124829GB", "RA473124829G", ""])
def test_s10_malformed_refused(text):
    with pytest.raises(ValidationError):
        s10.parse(text)


# --------------------------------------------------------------------------- ranges


def _empty_service(shipping_setup, key="post") -> ShippingService:
    service = shipping_setup[key]
    db.session.execute(delete(TrackingRange).where(TrackingRange.service_id == service.id))
    db.session.flush()
    return service


def test_add_range_and_draw_s10(app, shipping_setup):
    service = _empty_service(shipping_setup)
    rng = tracking.add_range(service, prefix="rr", first_serial=1, last_serial=3, suffix="cn",
                             warn_below=1, actor=None)
    assert (rng.prefix, rng.suffix, rng.width, rng.next_serial) == ("RR", "CN", 8, 1)
    assert tracking.draw_number(service, actor=None) == "RR000000014CN"
    assert tracking.draw_numbers(service, 2, actor=None) == [
        s10.make("RR", 2, "CN"), s10.make("RR", 3, "CN")]
    db.session.refresh(rng)
    assert rng.remaining == 0
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(["tracking_range.created", "tracking_range.drawn"]))).all()
    assert len(events) == 3


def test_draw_spills_into_next_range_and_refuses_when_exhausted(app, shipping_setup):
    service = _empty_service(shipping_setup, "epacket")
    tracking.add_range(service, prefix="LK", first_serial=10000000, last_serial=10000001,
                       suffix="CN", warn_below=0, actor=None)
    tracking.add_range(service, prefix="LK", first_serial=10000010, last_serial=10000014,
                       suffix="CN", warn_below=0, actor=None)
    numbers = tracking.draw_numbers(service, 4, actor=None)
    assert numbers == [s10.make("LK", n, "CN") for n in (10000000, 10000001, 10000010, 10000011)]
    assert tracking.draw_numbers(service, 3, actor=None)[-1] == "LK100000140CN"
    with pytest.raises(ShippingError, match=r"Tracked small packet \(EPACKET\) has no tracking "
                                            r"numbers left: 1 asked for, 0 available"):
        tracking.draw_number(service, actor=None)


def test_draw_too_many_refused_and_nothing_reused(app, shipping_setup):
    service = _empty_service(shipping_setup)
    rng = tracking.add_range(service, prefix="RR", first_serial=1, last_serial=5, suffix="CN",
                             warn_below=0, actor=None)
    db.session.commit()
    with pytest.raises(ShippingError, match="6 asked for, 5 available"):
        tracking.draw_numbers(service, 6, actor=None)
    db.session.rollback()
    db.session.refresh(rng)
    assert rng.next_serial == 1


def test_inactive_range_not_drawn(app, shipping_setup):
    service = _empty_service(shipping_setup)
    rng = tracking.add_range(service, prefix="RR", first_serial=1, last_serial=5, suffix="CN",
                             actor=None)
    tracking.set_range_active(rng, False, actor=None)
    with pytest.raises(ShippingError, match="no tracking numbers left"):
        tracking.draw_number(service, actor=None)


def test_free_form_numbers(app, shipping_setup):
    service = _empty_service(shipping_setup, "express")
    tracking.add_range(service, prefix="ex", first_serial=1, last_serial=999999, width=10,
                       warn_below=0, actor=None)
    assert tracking.draw_numbers(service, 2, actor=None) == ["EX0000000001", "EX0000000002"]


def test_fixture_ranges_draw(app, shipping_setup):
    assert tracking.draw_number(shipping_setup["express"], actor=None) == "EX0010000000"
    assert tracking.draw_number(shipping_setup["ems"], actor=None) == s10.make(
        "EE", 10000000, "CN")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"prefix": "KR"}, "beginning with K are reserved"),
    ({"prefix": "R1"}, "is not an S10 prefix"),
    ({"suffix": "XX"}, "is not a country code"),
    ({"first_serial": 5, "last_serial": 4}, "must not be below the first"),
    ({"last_serial": 100_000_000}, "The last serial must be a whole number from 0 to 99,999,999"),
    ({"first_serial": -1}, "The first serial must be"),
    ({"warn_below": -5}, "warning level must be"),
])
def test_add_range_validation(app, shipping_setup, kwargs, message):
    service = _empty_service(shipping_setup)
    values = {"prefix": "RR", "first_serial": 1, "last_serial": 100, "suffix": "CN",
              "warn_below": 10, **kwargs}
    with pytest.raises(ValidationError, match=message):
        tracking.add_range(service, actor=None, **values)


def test_add_range_overlap_refused(app, shipping_setup):
    service = shipping_setup["post"]  # RR 10000000-10009999 CN
    with pytest.raises(ShippingError, match="overlap the range 10,000,000-10,009,999 already "
                                            "loaded for Registered air mail"):
        tracking.add_range(shipping_setup["ems"], prefix="RR", first_serial=10009999,
                           last_serial=10019999, suffix="CN", actor=None)
    # the same serials with another prefix are other numbers
    tracking.add_range(service, prefix="RB", first_serial=10000000, last_serial=10009999,
                       suffix="CN", actor=None)


def test_free_form_width_checked(app, shipping_setup):
    service = _empty_service(shipping_setup, "express")
    with pytest.raises(ValidationError, match="has 7 digits, more than the width of 6"):
        tracking.add_range(service, prefix="EX", first_serial=1, last_serial=1234567, width=6,
                           actor=None)
    with pytest.raises(ValidationError, match="6 to 40 letters and digits"):
        tracking.add_range(service, prefix="", first_serial=1, last_serial=99, width=2,
                           actor=None)


def test_ranges_running_low(app, shipping_setup):
    service = _empty_service(shipping_setup)
    rng = tracking.add_range(service, prefix="RR", first_serial=1, last_serial=10, suffix="CN",
                             warn_below=5, actor=None)
    assert rng not in tracking.ranges_running_low()
    tracking.draw_numbers(service, 6, actor=None)
    db.session.refresh(rng)
    assert tracking.ranges_running_low() == [rng]
    # a follow-on range silences the warning
    tracking.add_range(service, prefix="RR", first_serial=11, last_serial=100, suffix="CN",
                       warn_below=5, actor=None)
    assert tracking.ranges_running_low() == []
    assert tracking.remaining_numbers(service) == 94


def test_the_home_pages_count_of_ranges_running_low_follows_the_rule(app, shipping_setup):
    service = _empty_service(shipping_setup)
    rng = tracking.add_range(service, prefix="RR", first_serial=1, last_serial=10, suffix="CN",
                             warn_below=5, actor=None)

    def counted():
        db.session.flush()
        return tracking.count_ranges_running_low()

    assert counted() == len(tracking.ranges_running_low()) == 0
    tracking.draw_numbers(service, 6, actor=None)
    db.session.refresh(rng)
    assert counted() == len(tracking.ranges_running_low()) == 1
    tracking.add_range(service, prefix="RR", first_serial=11, last_serial=100, suffix="CN",
                       warn_below=5, actor=None)
    assert counted() == len(tracking.ranges_running_low()) == 0


# --------------------------------------------------------------------------- concurrency

DRAWS = 15


def _draw_concurrently(app, service_id: int) -> list[str]:
    barrier = threading.Barrier(2, timeout=10)
    drawn: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for i in range(DRAWS):
                    service = db.session.get(ShippingService, service_id)
                    drawn[index].extend(tracking.draw_numbers(service, 1 + (i + index) % 3,
                                                              actor=None))
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return [n for d in drawn for n in d]


@pytest.fixture
def committed_range(app, shipping_setup):
    """A service with a small range (spill included), committed for other connections."""
    service = _empty_service(shipping_setup)
    tracking.add_range(service, prefix="RR", first_serial=1, last_serial=20, suffix="CN",
                       warn_below=0, actor=None)
    tracking.add_range(service, prefix="RR", first_serial=101, last_serial=200, suffix="CN",
                       warn_below=0, actor=None)
    service_id = service.id
    db.session.commit()
    return service_id


@pytest.mark.postgres
def test_two_sessions_never_draw_the_same_number(app, committed_range):
    numbers = _draw_concurrently(app, committed_range)
    assert len(numbers) == len(set(numbers))
    serials = sorted(int(n[2:10]) for n in numbers)
    expected = list(range(1, 21)) + list(range(101, 101 + len(numbers) - 20))
    assert serials == expected
