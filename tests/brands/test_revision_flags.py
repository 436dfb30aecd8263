"""Specification revision flags: raised at the thresholds and not below, shown, cleared.

The history is :mod:`tests.fixtures.scorecard`'s: version V1's SKU T1 shipped 10 units and 2
came back DEFECTIVE (20 %); V2's T2 shipped 4 and 1 came back DEFECTIVE (25 %). Both versions
were approved before anything shipped, so their windows hold all of it.
"""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from erp.aftersales import spec_revision
from erp.brands import revision_flags
from erp.brands import services as brand_services
from erp.brands.models import RevisionFlag
from erp.core import periodic
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent, Setting, utcnow
from erp.extensions import db
from tests.fixtures.scorecard import open_case


def set_thresholds(rate_pct: str, min_units: str, window_days: str = "90") -> None:
    for key, value in (("spec_revision_rate_pct", rate_pct),
                       ("spec_revision_min_units", min_units),
                       ("spec_revision_window_days", window_days)):
        db.session.merge(Setting(key=key, value=value))
    db.session.commit()


def flags() -> list[RevisionFlag]:
    db.session.expire_all()
    return list(db.session.scalars(select(RevisionFlag).order_by(RevisionFlag.id)))


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_the_check_is_a_periodic_task():
    assert periodic.TASKS["aftersales.spec_revision"].fn is spec_revision.check_specifications


def test_flag_raised_at_the_threshold_and_not_below(scorecard_data):
    d = scorecard_data
    set_thresholds("20.1", "2")  # V1 at 20 % is below the rate; V2 (1 unit) below the minimum
    assert spec_revision.check_specifications() == {"checked": 1, "flagged": []}
    set_thresholds("20", "3")  # V1 at the rate but 2 units, below the minimum
    assert spec_revision.check_specifications()["flagged"] == []
    assert flags() == []

    set_thresholds("20", "2")  # V1 exactly at both thresholds
    result = spec_revision.check_specifications()
    db.session.commit()
    assert result == {"checked": 1, "flagged": [d.v1.label]}
    (flag,) = flags()
    assert flag.version_id == d.v1.id
    assert (flag.units_returned, flag.units_shipped) == (2, 10)
    assert flag.reasons == [["DEFECTIVE", "Defective or damaged", 2]]
    assert flag.rate * 100 == 20
    assert flag.window_from == d.v1.approved_at  # approved after the window's cut-off
    assert flag.is_open
    (event,) = events("specification_version.flagged")
    assert event.entity_id == str(d.v1.id)
    assert event.changes["reasons"] == "DEFECTIVE 2"

    # an open flag is not raised twice
    assert spec_revision.check_specifications()["flagged"] == []
    assert len(flags()) == 1


def test_both_versions_flagged_with_a_low_threshold(scorecard_data):
    d = scorecard_data
    set_thresholds("1", "1")
    assert sorted(spec_revision.check_specifications()["flagged"]) == sorted(
        [d.v1.label, d.v2.label])
    db.session.commit()
    assert {f.version_id: f.units_returned for f in flags()} == {d.v1.id: 2, d.v2.id: 1}


def test_nothing_counts_without_manufacturing_defect_reasons(scorecard_data):
    set_thresholds("1", "1")
    db.session.merge(Setting(key="manufacturing_defect_reasons", value=""))
    db.session.commit()
    assert spec_revision.check_specifications() == {"checked": 0, "flagged": []}


def test_a_cleared_flag_counts_only_later_returns(scorecard_data, ship_order, reasons):
    d = scorecard_data
    set_thresholds("20", "2")
    spec_revision.check_specifications()
    db.session.commit()
    (flag,) = flags()
    with pytest.raises(ValidationError, match="must give a reason"):
        revision_flags.clear_flag(flag, actor=None, reason="  ")
    revision_flags.clear_flag(flag, actor=None, reason="Bad batch; supplier retrained")
    db.session.commit()
    assert not flags()[0].is_open
    assert events("specification_version.flag_cleared")[0].changes["reason"] == \
        "Bad batch; supplier retrained"
    with pytest.raises(revision_flags.RevisionFlagError, match="already cleared"):
        revision_flags.clear_flag(flags()[0], actor=None, reason="again")
    # the returns seen so far were dealt with: no new flag from them
    assert spec_revision.check_specifications()["flagged"] == []
    # new shipments and returns after the clearing count: 2 of 5 back
    order = ship_order([(d.t1, 5)])
    open_case(order, d.t1, 2, reasons["DEFECTIVE"])
    db.session.commit()
    assert spec_revision.check_specifications()["flagged"] == [d.v1.label]
    db.session.commit()
    old, new = flags()
    assert (new.units_returned, new.units_shipped, new.is_open) == (2, 5, True)
    assert new.window_from == old.cleared_at


def test_approving_a_new_version_clears_the_flag(scorecard_data):
    d = scorecard_data
    set_thresholds("20", "2")
    spec_revision.check_specifications()
    db.session.commit()
    spec = d.v1.specification
    draft = brand_services.new_specification_version(spec, actor=None)
    assert flags()[0].is_open  # a draft changes nothing yet
    brand_services.approve_specification_version(draft, actor=None)
    db.session.commit()
    (flag,) = flags()
    assert not flag.is_open
    assert flag.clear_reason == "version 2 approved"
    assert len(events("specification_version.flag_cleared")) == 1
    # the retired version is never flagged again
    assert spec_revision.check_specifications()["flagged"] == []


def test_raise_flag_needs_returned_units(scorecard_data):
    now = utcnow()
    with pytest.raises(revision_flags.RevisionFlagError, match="some units"):
        revision_flags.raise_flag(scorecard_data.v1, window_from=now, window_to=now,
                                  units_shipped=3, units_returned=0, reasons=[])


def test_specification_page_list_and_clearing(scorecard_data, client, login_as):
    d = scorecard_data
    set_thresholds("20", "2")
    spec_revision.check_specifications()
    db.session.commit()
    flag = flags()[0]
    spec = d.v1.specification

    login_as("purchasing")
    body = text(client.get(f"/brands/specifications/{spec.id}"))
    assert 'id="revision-flag"' in body
    assert "DEFECTIVE (Defective or damaged): 2 units" in body
    assert "20.0 %" in body
    assert "Clear the flag" not in body  # purchasing may not clear
    assert client.post(f"/brands/revision-flags/{flag.id}/clear",
                       data={"reason": "no"}).status_code == 403

    listing = text(client.get("/brands/specifications?flagged=1"))
    assert spec.number in listing
    assert d.v2.specification.number not in listing
    assert "flagged for revision" in listing
    assert d.v2.specification.number in text(client.get("/brands/specifications"))

    client.post("/logout")
    login_as("manager")
    body = text(client.get(f"/brands/specifications/{spec.id}"))
    assert "Clear the flag" in body
    response = client.post(f"/brands/revision-flags/{flag.id}/clear", data={"reason": ""})
    assert response.status_code == 422
    assert flags()[0].is_open
    response = client.post(f"/brands/revision-flags/{flag.id}/clear",
                           data={"reason": "Seam fixed at the factory"})
    assert response.status_code == 302
    assert not flags()[0].is_open
    body = text(client.get(response.headers["Location"]))
    assert 'id="revision-flag"' not in body
    assert "Seam fixed at the factory" in body  # in the earlier flags
    assert spec.number not in text(client.get("/brands/specifications?flagged=1"))
    assert db.session.scalar(select(func.count()).select_from(RevisionFlag)) == 1


def test_threshold_settings_refuse_bad_values(app):
    from erp.core import settings

    reasons = settings.SETTINGS["manufacturing_defect_reasons"].parse
    assert reasons("defective, stitching") == {"DEFECTIVE", "STITCHING"}
    assert reasons("") == frozenset()
    with pytest.raises(ValueError, match="BAD-CODE"):
        reasons("DEFECTIVE bad-code")
    rate = settings.SETTINGS["spec_revision_rate_pct"].parse
    assert rate("2.5") == 2.5
    for bad, why in (("0", "more than zero"), ("101", "at most 100"), ("x", "a number")):
        with pytest.raises(ValueError, match=why):
            rate(bad)
    with pytest.raises(ValueError, match="more than zero"):
        settings.SETTINGS["spec_revision_min_units"].parse("0")
