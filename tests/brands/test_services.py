"""Brand services: every rule and refusal, the specification state machine, audit rows."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from sqlalchemy import func, select

from erp.brands import services
from erp.brands.models import (
    Brand,
    BrandKind,
    Specification,
    SpecificationAttachment,
    SpecificationState,
    SpecificationVersion,
    Trademark,
)
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition
from erp.extensions import db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 64


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.fixture
def purchaser(create_user):
    return create_user("pat", roles=("purchasing",))


@pytest.fixture
def manager(create_user):
    return create_user("max", roles=("manager",))


@pytest.fixture
def approved_spec(create_specification, dummy_brand, purchaser, manager):
    """A specification whose version 1 is approved."""
    spec = create_specification(dummy_brand, actor=purchaser, title="Duvet cover",
                                material="Cotton percale")
    services.approve_specification_version(spec.latest, actor=manager)
    db.session.commit()
    return spec


# --------------------------------------------------------------------------- brands


def test_create_brand_upper_cases_code_and_audits(purchaser):
    brand = services.create_brand(code="  luma-2 ", name=" Luma Home ", kind="private",
                                  owner_company="Lantern & Loom", actor=purchaser)
    db.session.commit()
    assert (brand.code, brand.name, brand.kind, brand.active) == (
        "LUMA-2", "Luma Home", BrandKind.private, True)
    [event] = events("brand.created")
    assert event.actor_id == purchaser.id
    assert event.entity_ref == "LUMA-2"
    assert event.changes["code"] == [None, "LUMA-2"]


@pytest.mark.parametrize("code", ["L", "A" * 21, "LU MA", "LUMA!", "", "ÄBC"])
def test_create_brand_with_malformed_code_fails(app, code):
    with pytest.raises(ValidationError) as info:
        services.create_brand(code=code, name="Luma", actor=None)
    assert info.value.field == "code"
    assert db.session.scalar(select(func.count()).select_from(Brand)) == 0


def test_create_brand_without_name_fails(app):
    with pytest.raises(ValidationError) as info:
        services.create_brand(code="LUMA", name="  ", actor=None)
    assert info.value.field == "name"


def test_create_brand_with_unknown_kind_fails(app):
    with pytest.raises(ValidationError) as info:
        services.create_brand(code="LUMA", name="Luma", kind="licensed", actor=None)
    assert info.value.field == "kind"


def test_create_brand_third_party_kind_accepts_enum_and_text(app):
    a = services.create_brand(code="AAA", name="A", kind=BrandKind.third_party, actor=None)
    b = services.create_brand(code="BBB", name="B", kind="Third_Party", actor=None)
    assert a.kind == b.kind == BrandKind.third_party


def test_create_brand_with_taken_code_fails(dummy_brand):
    with pytest.raises(services.BrandError, match='To create brand "LUMA"') as info:
        services.create_brand(code="luma", name="Another", actor=None)
    assert info.value.field == "code"


def test_update_brand_records_only_changes(dummy_brand, purchaser):
    services.update_brand(dummy_brand, code="luma", name="Luma Living", kind="private",
                          owner_company="Lantern & Loom Trading Ltd", actor=purchaser)
    db.session.commit()
    [event] = events("brand.updated")
    assert event.changes == {"name": ["Luma Home", "Luma Living"]}


def test_update_brand_without_changes_writes_no_event(dummy_brand):
    services.update_brand(dummy_brand, code="LUMA", name="Luma Home", kind="private",
                          owner_company="Lantern & Loom Trading Ltd", actor=None)
    assert events("brand.updated") == []


def test_update_brand_to_another_brands_code_fails(dummy_brand, create_brand):
    other = create_brand("KIBO", "Kibo Kids")
    with pytest.raises(services.BrandError, match="Luma Home already uses it"):
        services.update_brand(other, code="LUMA", name="Kibo", kind="private",
                              owner_company=None, actor=None)
    db.session.rollback()
    assert db.session.get(Brand, other.id).code == "KIBO"


def test_set_brand_active_audits_each_change(dummy_brand):
    services.set_brand_active(dummy_brand, False, actor=None)
    services.set_brand_active(dummy_brand, False, actor=None)  # no change, no event
    services.set_brand_active(dummy_brand, True, actor=None)
    db.session.commit()
    assert len(events("brand.deactivated")) == 1
    assert len(events("brand.reactivated")) == 1
    assert dummy_brand.active is True


@pytest.mark.parametrize(("data", "mime"), [(PNG, "image/png"), (JPEG, "image/jpeg")])
def test_set_brand_logo_recognises_png_and_jpeg(dummy_brand, data, mime):
    services.set_brand_logo(dummy_brand, data, actor=None)
    db.session.commit()
    assert (dummy_brand.logo, dummy_brand.logo_mime) == (data, mime)
    assert events("brand.logo_set")[0].changes["logo"] == [None, mime]


@pytest.mark.parametrize(("data", "message"), [
    (GIF, "PNG or JPEG"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "PNG or JPEG"),
    (b"", "empty"),
    (PNG + b"\x00" * (1024 * 1024), "at most 1 MB"),
])
def test_set_brand_logo_refuses_bad_files(dummy_brand, data, message):
    with pytest.raises(ValidationError, match=message):
        services.set_brand_logo(dummy_brand, data, actor=None)
    assert dummy_brand.logo_mime is None


def test_set_brand_logo_none_removes_it(dummy_brand):
    services.set_brand_logo(dummy_brand, PNG, actor=None)
    services.set_brand_logo(dummy_brand, None, actor=None)
    db.session.commit()
    assert dummy_brand.logo is None
    assert dummy_brand.logo_mime is None
    assert len(events("brand.logo_removed")) == 1


def test_add_trademark_normalises_country_and_audits(dummy_brand, purchaser):
    mark = services.add_trademark(dummy_brand, country="china", number=" 58213377 ",
                                  registered_on=date(2021, 3, 14), classes="24",
                                  actor=purchaser)
    db.session.commit()
    assert (mark.country, mark.number, mark.brand_id) == ("CN", "58213377", dummy_brand.id)
    [event] = events("trademark.added")
    assert event.changes["brand"] == "LUMA"
    assert event.changes["country"] == [None, "CN"]


def test_add_trademark_with_unknown_country_fails(dummy_brand):
    with pytest.raises(ValidationError, match="not a country") as info:
        services.add_trademark(dummy_brand, country="Atlantis", number="1", actor=None)
    assert info.value.field == "country"


def test_add_trademark_without_number_fails(dummy_brand):
    with pytest.raises(ValidationError) as info:
        services.add_trademark(dummy_brand, country="US", number=" ", actor=None)
    assert info.value.field == "number"


def test_add_trademark_twice_in_one_country_fails(dummy_brand, create_brand):
    services.add_trademark(dummy_brand, country="US", number="6402915", actor=None)
    with pytest.raises(services.BrandError, match='brand "LUMA"'):
        services.add_trademark(dummy_brand, country="USA", number="6402915", actor=None)
    # the same number elsewhere, or for another brand, is a different registration
    services.add_trademark(dummy_brand, country="GB", number="6402915", actor=None)
    services.add_trademark(create_brand("KIBO"), country="US", number="6402915", actor=None)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Trademark)) == 3


def test_remove_trademark_deletes_and_audits(dummy_brand):
    mark = services.add_trademark(dummy_brand, country="DE", number="3020211", actor=None)
    db.session.commit()
    services.remove_trademark(mark, actor=None)
    db.session.commit()
    assert dummy_brand.trademarks == []
    assert events("trademark.removed")[0].changes["number"] == ["3020211", None]


# --------------------------------------------------------------------------- specifications


def test_create_specification_numbers_it_with_draft_version_1(dummy_brand, purchaser):
    spec = services.create_specification(dummy_brand, {"title": "Duvet cover",
                                                       "material": " Cotton "},
                                         actor=purchaser)
    other = services.create_specification(dummy_brand, {"title": "Towel"}, actor=purchaser)
    db.session.commit()
    year = date.today().year
    assert spec.number == f"SPEC-{year}-000001"
    assert other.number == f"SPEC-{year}-000002"
    [version] = spec.versions
    assert (version.version, version.state, version.title, version.material) == (
        1, SpecificationState.draft, "Duvet cover", "Cotton")
    assert version.created_by_id == purchaser.id
    assert spec.current is None
    assert events("specification.created")[0].changes["title"] == [None, "Duvet cover"]


@pytest.mark.parametrize("fields", [{}, {"title": "  "}, {"title": "x" * 201},
                                    {"title": "ok", "inspection_level": "x" * 81}])
def test_create_specification_with_bad_content_fails(dummy_brand, fields):
    with pytest.raises(ValidationError):
        services.create_specification(dummy_brand, fields, actor=None)


def test_update_draft_version_records_the_diff(create_specification, purchaser):
    spec = create_specification(title="Duvet", material="Cotton")
    services.update_specification_version(spec.latest, {"title": "Duvet", "material": "Linen",
                                                         "notes": ""}, actor=purchaser)
    db.session.commit()
    assert spec.latest.material == "Linen"
    [event] = events("specification_version.updated")
    assert event.changes["material"] == ["Cotton", "Linen"]
    assert "notes" not in event.changes  # empty stays None
    assert event.changes["specification"] == spec.number


@pytest.mark.parametrize("retire", [False, True])
def test_update_approved_or_retired_version_is_read_only(approved_spec, manager, retire):
    version = approved_spec.latest
    if retire:
        services.retire_specification_version(version, actor=manager)
        db.session.commit()
    before = audit_count()
    with pytest.raises(services.SpecificationError, match="you must start a new version"):
        services.update_specification_version(version, {"material": "Polyester"}, actor=None)
    db.session.rollback()
    assert db.session.get(SpecificationVersion, version.id).material == "Cotton percale"
    assert audit_count() == before


def test_approve_draft_sets_approver_and_audits(create_specification, manager):
    spec = create_specification()
    version = services.approve_specification_version(spec.latest, actor=manager)
    db.session.commit()
    assert version.state == SpecificationState.approved
    assert version.approved_by_id == manager.id
    assert version.approved_at is not None
    assert spec.current is version
    [event] = events("specification_version.approved")
    assert event.changes["state"] == ["draft", "approved"]
    assert event.actor_id == manager.id


def test_approve_version_2_retires_version_1(approved_spec, purchaser, manager):
    v1 = approved_spec.latest
    v2 = services.new_specification_version(approved_spec, actor=purchaser)
    db.session.commit()
    services.approve_specification_version(v2, actor=manager)
    db.session.commit()
    assert (v1.state, v2.state) == (SpecificationState.retired, SpecificationState.approved)
    assert approved_spec.current is v2
    [retired] = events("specification_version.retired")
    assert retired.changes["state"] == ["approved", "retired"]
    assert retired.changes["note"] == "superseded by version 2"
    assert events("specification_version.approved")[-1].changes["replaces"] == [1]


@pytest.mark.parametrize(("start", "action"), [
    ("approved", "approve"), ("retired", "approve"), ("draft", "retire"),
    ("retired", "retire")])
def test_disallowed_transition_fails_and_changes_nothing(approved_spec, manager, start,
                                                         action):
    version = approved_spec.latest
    if start == "draft":
        version = services.new_specification_version(approved_spec, actor=None)
    elif start == "retired":
        services.retire_specification_version(version, actor=manager)
    db.session.commit()
    approved_at = version.approved_at
    before = audit_count()
    service = {"approve": services.approve_specification_version,
               "retire": services.retire_specification_version}[action]
    with pytest.raises(InvalidTransition) as info:
        service(version, actor=manager)
    assert f'"{version.label}"' in str(info.value)
    assert info.value.current == SpecificationState(start)
    assert version.state == SpecificationState(start)
    db.session.rollback()
    fresh = db.session.get(SpecificationVersion, version.id)
    assert fresh.state == SpecificationState(start)
    assert fresh.approved_at == approved_at
    assert audit_count() == before


def test_retire_approved_version_leaves_none_in_force(approved_spec, manager):
    services.retire_specification_version(approved_spec.latest, actor=manager)
    db.session.commit()
    assert approved_spec.latest.state == SpecificationState.retired
    assert approved_spec.current is None
    assert len(events("specification_version.retired")) == 1


def test_new_version_copies_content_and_attachments(approved_spec, purchaser):
    v1 = approved_spec.latest
    v1.attachments.append(SpecificationAttachment(filename="drawing.pdf", mime="application/pdf",
                                                  size=4, data=b"%PDF"))
    db.session.commit()
    v2 = services.new_specification_version(approved_spec, actor=purchaser)
    db.session.commit()
    assert (v2.version, v2.state, v2.created_by_id) == (2, SpecificationState.draft, purchaser.id)
    for key in SpecificationVersion.CONTENT_FIELDS:
        assert getattr(v2, key) == getattr(v1, key)
    [copy] = v2.attachments
    assert (copy.filename, copy.data) == ("drawing.pdf", b"%PDF")
    assert copy.id != v1.attachments[0].id
    assert v2.approved_at is None
    assert events("specification_version.created")[0].changes["copied_from"] == 1
    # the draft's copy is its own: removing it leaves version 1 intact
    services.remove_attachment(copy, actor=purchaser)
    db.session.commit()
    assert [a.filename for a in v1.attachments] == ["drawing.pdf"]


def test_new_version_while_a_draft_exists_fails(create_specification):
    spec = create_specification()
    before = audit_count()
    with pytest.raises(services.SpecificationError, match="only one draft at a time"):
        services.new_specification_version(spec, actor=None)
    db.session.rollback()
    assert [v.version for v in spec.versions] == [1]
    assert audit_count() == before


@pytest.mark.postgres
def test_new_version_from_two_sessions_at_once_makes_one_draft(app, approved_spec):
    """The specification row lock makes the second session wait, then see the first's draft."""
    spec_id = approved_spec.id
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with app.app_context():
                spec = db.session.get(Specification, spec_id)
                assert len(spec.versions) == 1  # both sessions see no draft yet
                barrier.wait()
                try:
                    services.new_specification_version(spec, actor=None)
                except services.SpecificationError:
                    db.session.rollback()
                    outcomes.append("refused")
                else:
                    time.sleep(0.2)  # hold the lock: the other session must wait for it
                    db.session.commit()
                    outcomes.append("created")
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]
    assert sorted(outcomes) == ["created", "refused"]
    db.session.expire_all()
    assert [v.version for v in db.session.get(Specification, spec_id).versions] == [1, 2]


def test_new_version_after_retirement_copies_the_latest(approved_spec, manager):
    services.retire_specification_version(approved_spec.latest, actor=manager)
    v2 = services.new_specification_version(approved_spec, actor=None)
    db.session.commit()
    assert (v2.version, v2.title) == (2, "Duvet cover")


def test_add_attachment_sanitises_filename_and_guesses_type(create_specification, purchaser):
    version = create_specification().latest
    attachment = services.add_attachment(version, filename="../../etc/测试 spec.pdf",
                                         data=b"%PDF-1.7", actor=purchaser)
    chinese = services.add_attachment(version, filename="规格.pdf", data=b"x", actor=None)
    db.session.commit()
    assert attachment.filename == "spec.pdf"
    assert chinese.filename == "attachment.pdf"
    assert (attachment.mime, attachment.size, attachment.uploaded_by_id) == (
        "application/pdf", 8, purchaser.id)
    assert events("specification_attachment.added")[0].changes["filename"] == [None, "spec.pdf"]


def test_add_attachment_refuses_empty_and_oversized_files(create_specification):
    version = create_specification().latest
    with pytest.raises(ValidationError, match="empty"):
        services.add_attachment(version, filename="a.pdf", data=b"", actor=None)
    with pytest.raises(ValidationError, match="10 MB"):
        services.add_attachment(version, filename="a.pdf",
                                data=b"x" * (10 * 1024 * 1024 + 1), actor=None)
    assert version.attachments == []


def test_attachments_of_an_approved_version_are_read_only(create_specification, manager):
    spec = create_specification()
    attachment = services.add_attachment(spec.latest, filename="a.pdf", data=b"x", actor=None)
    services.approve_specification_version(spec.latest, actor=manager)
    db.session.commit()
    with pytest.raises(services.SpecificationError, match="only a draft may change"):
        services.add_attachment(spec.latest, filename="b.pdf", data=b"y", actor=None)
    with pytest.raises(services.SpecificationError, match="only a draft may change"):
        services.remove_attachment(attachment, actor=None)
    db.session.rollback()
    assert [a.filename for a in spec.latest.attachments] == ["a.pdf"]


def test_remove_attachment_of_a_draft_audits(create_specification):
    version = create_specification().latest
    attachment = services.add_attachment(version, filename="a.pdf", data=b"x", actor=None)
    db.session.commit()
    services.remove_attachment(attachment, actor=None)
    db.session.commit()
    assert version.attachments == []
    assert events("specification_attachment.removed")[0].changes["filename"] == ["a.pdf", None]


def test_predicates_follow_state_and_role(approved_spec, purchaser, manager, create_user):
    admin = create_user("root", roles=("admin",))
    v1 = approved_spec.latest
    assert not services.can_edit_specification_version(v1, purchaser)
    assert not services.can_approve_specification_version(v1, manager)
    assert services.can_retire_specification_version(v1, manager)
    assert not services.can_retire_specification_version(v1, purchaser)
    assert services.can_start_specification_version(approved_spec, purchaser)
    assert not services.can_start_specification_version(approved_spec, manager)
    v2 = services.new_specification_version(approved_spec, actor=purchaser)
    assert services.can_edit_specification_version(v2, purchaser)
    assert not services.can_edit_specification_version(v2, manager)
    assert services.can_approve_specification_version(v2, manager)
    assert services.can_approve_specification_version(v2, admin)
    assert not services.can_approve_specification_version(v2, purchaser)
    assert not services.can_start_specification_version(approved_spec, admin)
