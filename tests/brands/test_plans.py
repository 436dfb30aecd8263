"""Inspection plans of specification versions: level, AQLs, checks, approval, copying."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from erp.brands import plans, services
from erp.brands.models import CheckKind, DefectClass, SpecificationCheck, SpecificationState
from erp.brands.services import SpecificationError
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.quality import sampling

MEASURE = {"kind": "measurement", "defect_class": "major", "description": "Length",
           "nominal": "200", "tolerance_minus": "2", "tolerance_plus": "1.5", "unit": "cm"}
VISUAL = {"kind": "visual", "defect_class": "minor", "description": "No loose thread"}


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_the_plan_offers_the_levels_and_aqls_of_the_tables():
    assert plans.LEVELS == sampling.LEVELS
    assert plans.AQLS == sampling.AQLS


def test_a_complete_plan_is_approved_and_inspects(create_specification):
    spec = create_specification(title="Duvet")
    version = spec.latest
    plans.set_plan(version, {"sampling_level": "ii", "aql_major": "2.50", "aql_minor": "4"},
                   actor=None)
    check = plans.add_check(version, MEASURE, actor=None)
    plans.add_check(version, VISUAL, actor=None)
    plans.add_check(version, {**VISUAL, "defect_class": "critical", "description": "No needle",
                              "kind": "functional"}, actor=None)
    assert (version.sampling_level, version.aql_major, version.aql_minor,
            version.aql_critical) == ("II", Decimal("2.5"), Decimal("4.0"), None)
    assert [c.sequence for c in version.checks] == [10, 20, 30]
    assert (check.low, check.high, check.range_text) == (Decimal("198"), Decimal("201.5"),
                                                          "198 – 201.5 cm")
    assert check.passes(Decimal("198"))
    assert check.passes(Decimal("201.5"))
    assert not check.passes(Decimal("197.99"))
    assert not version.has_inspection_plan        # a draft inspects nothing yet
    services.approve_specification_version(version, actor=None)
    assert version.has_inspection_plan
    assert {"specification_version.plan_set", "specification_check.added"} <= set(actions())


def test_plan_values_are_refused_with_the_field_and_reason(create_specification):
    version = create_specification().latest
    with pytest.raises(ValidationError, match="AQL major: 3 is not an AQL") as err:
        plans.set_plan(version, {"sampling_level": "II", "aql_major": "3"}, actor=None)
    assert err.value.field == "aql_major"
    with pytest.raises(ValidationError, match="“IV” is not an inspection level"):
        plans.set_plan(version, {"sampling_level": "IV"}, actor=None)
    with pytest.raises(ValidationError, match="a measurement needs a nominal value"):
        plans.add_check(version, {**MEASURE, "unit": ""}, actor=None)
    with pytest.raises(ValidationError, match="a tolerance is not negative"):
        plans.add_check(version, {**MEASURE, "tolerance_minus": "-1"}, actor=None)
    with pytest.raises(ValidationError, match="“abc” is not a number"):
        plans.add_check(version, {**MEASURE, "nominal": "abc"}, actor=None)
    with pytest.raises(ValidationError, match="choose critical, major or minor"):
        plans.add_check(version, {**VISUAL, "defect_class": "fatal"}, actor=None)
    with pytest.raises(ValidationError, match="say what to check"):
        plans.add_check(version, {**VISUAL, "description": "  "}, actor=None)
    assert version.checks == []
    assert version.sampling_level is None


def test_approval_refuses_an_incomplete_plan(create_specification):
    version = create_specification().latest
    plans.set_plan(version, {"sampling_level": "II"}, actor=None)
    with pytest.raises(SpecificationError, match="names inspection level II but has no check"):
        services.approve_specification_version(version, actor=None)
    plans.add_check(version, VISUAL, actor=None)  # a minor check, and no AQL minor
    with pytest.raises(SpecificationError, match="has minor checks but no AQL minor"):
        services.approve_specification_version(version, actor=None)
    plans.set_plan(version, {"sampling_level": None, "aql_minor": "4.0"}, actor=None)
    with pytest.raises(SpecificationError, match="has 1 checks but no inspection level"):
        services.approve_specification_version(version, actor=None)
    plans.set_plan(version, {"sampling_level": "S-4", "aql_minor": "4.0"}, actor=None)
    services.approve_specification_version(version, actor=None)
    assert version.state == SpecificationState.approved


def test_only_a_draft_plan_changes_and_a_new_version_copies_it(create_specification):
    spec = create_specification()
    version = spec.latest
    plans.set_plan(version, {"sampling_level": "II", "aql_major": "1.5"}, actor=None)
    check = plans.add_check(version, MEASURE, actor=None)
    services.approve_specification_version(version, actor=None)
    for attempt in (lambda: plans.set_plan(version, {"sampling_level": "I"}, actor=None),
                    lambda: plans.add_check(version, VISUAL, actor=None),
                    lambda: plans.update_check(check, VISUAL, actor=None),
                    lambda: plans.remove_check(check, actor=None)):
        with pytest.raises(SpecificationError, match="only a draft may change"):
            attempt()
    draft = services.new_specification_version(spec, actor=None)
    assert (draft.sampling_level, draft.aql_major) == ("II", Decimal("1.5"))
    [copy] = draft.checks
    assert copy.id != check.id
    assert (copy.kind, copy.defect_class, copy.nominal, copy.unit) == (
        CheckKind.measurement, DefectClass.major, Decimal("200"), "cm")
    plans.update_check(copy, {**VISUAL, "defect_class": "major"}, actor=None)
    assert (copy.kind, copy.nominal) == (CheckKind.visual, None)   # no range on a visual check
    assert check.kind == CheckKind.measurement                    # v1 untouched
    plans.remove_check(copy, actor=None)
    db.session.flush()
    assert db.session.scalars(select(SpecificationCheck.version_id)).all() == [version.id]


def test_plan_screens(client, login_as, create_specification):
    spec = create_specification(title="Duvet")
    version = spec.latest
    login_as("purchasing")
    base = f"/brands/specification-versions/{version.id}"
    response = client.post(f"{base}/plan", data={"sampling_level": "II", "aql_major": "2.5",
                                                 "aql_minor": "4.0", "aql_critical": ""})
    assert response.status_code == 302
    response = client.post(f"{base}/checks", data=MEASURE)
    assert response.status_code == 302
    response = client.post(f"{base}/checks", data={**MEASURE, "nominal": "x"})
    assert response.status_code == 422
    assert "“x” is not a number" in response.get_data(as_text=True)
    page = client.get(f"/brands/specifications/{spec.id}").get_data(as_text=True)
    assert "198 – 201.5 cm" in page
    assert "Save plan" in page
    [check] = version.checks
    response = client.get(f"/brands/specification-checks/{check.id}/edit")
    assert response.status_code == 200
    response = client.post(f"/brands/specification-checks/{check.id}/edit",
                           data={**MEASURE, "tolerance_plus": "3"})
    assert response.status_code == 302
    db.session.expire_all()
    assert version.checks[0].high == Decimal("203")
    assert client.post(f"/brands/specification-checks/{check.id}/delete").status_code == 302
    db.session.expire_all()
    assert version.checks == []


def test_plan_screens_need_brands_edit(client, login_as, create_specification):
    version = create_specification().latest
    login_as("warehouse")
    response = client.post(f"/brands/specification-versions/{version.id}/checks", data=VISUAL)
    assert response.status_code == 403
    db.session.expire_all()
    assert version.checks == []


def test_the_plan_form_shows_the_saved_aqls(client, login_as, create_specification):
    spec = create_specification()
    plans.set_plan(spec.latest, {"sampling_level": "I", "aql_major": "0.010",
                                 "aql_minor": "10"}, actor=None)
    db.session.commit()
    assert plans.aql_text(spec.latest.aql_major) == "0.010"
    assert plans.aql_text(None) == ""
    login_as("purchasing")
    page = client.get(f"/brands/specifications/{spec.id}").get_data(as_text=True)
    assert '<option selected value="0.010">' in page
    assert '<option selected value="10">' in page
    assert '<option selected value="I">' in page
