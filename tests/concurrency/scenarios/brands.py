"""Purchasing specification versions posted 8 times at once: start, approve, retire."""

from __future__ import annotations

from erp.brands import services
from erp.extensions import db
from tests.concurrency.guarded import Scenario, audit_count, guarded


def _approved_spec(get):
    """Return a specification whose version 1 is approved (committed)."""
    spec = get("create_specification")()
    services.approve_specification_version(spec.latest, actor=None)
    db.session.commit()
    return spec


def _states(spec) -> list[str]:
    db.session.expire_all()
    return [v.state.value for v in sorted(spec.versions, key=lambda v: v.version)]


@guarded("brands.new_specification_version")
def start_the_next_version(get) -> Scenario:
    """8 "new version" clicks: one draft version 2, since only one draft may exist."""
    spec = _approved_spec(get)

    def check(answers):
        assert _states(spec) == ["approved", "draft"]
        assert audit_count("specification_version.created", of=spec.latest) == 1

    return Scenario("purchasing", f"/brands/specifications/{spec.id}/versions", {}, check)


@guarded("brands.approve_specification_version")
def approve_the_same_version(get) -> Scenario:
    """8 approvals of draft version 2: approved once, version 1 retired once."""
    spec = _approved_spec(get)
    draft = services.new_specification_version(spec, actor=None)
    db.session.commit()
    first = spec.versions[0]

    def check(answers):
        assert _states(spec) == ["retired", "approved"]
        assert audit_count("specification_version.approved", of=draft) == 1
        assert audit_count("specification_version.retired", of=first) == 1

    return Scenario("manager", f"/brands/specification-versions/{draft.id}/approve", {}, check)


@guarded("brands.retire_specification_version")
def retire_the_same_version(get) -> Scenario:
    """8 retirements of the approved version: retired once."""
    spec = _approved_spec(get)
    version = spec.latest

    def check(answers):
        assert _states(spec) == ["retired"]
        assert audit_count("specification_version.retired", of=version) == 1

    return Scenario("manager", f"/brands/specification-versions/{version.id}/retire", {},
                    check)


@guarded("brands.clear_revision_flag")
def clear_the_same_revision_flag(get) -> Scenario:
    """8 managers clear the same revision flag: cleared once, one audit event."""
    from datetime import timedelta

    from erp.brands import revision_flags
    from erp.core.models import utcnow

    spec = _approved_spec(get)
    version = spec.latest
    now = utcnow()
    flag = revision_flags.raise_flag(version, window_from=now - timedelta(days=90),
                                     window_to=now, units_shipped=40, units_returned=6,
                                     reasons=[("DEFECTIVE", "Defective or damaged", 6)])
    db.session.commit()

    def check(answers):
        db.session.expire_all()
        assert flag.cleared_at is not None
        assert flag.clear_reason == "Supplier fixed the seam"
        assert audit_count("specification_version.flag_cleared", of=version) == 1

    return Scenario("manager", f"/brands/revision-flags/{flag.id}/clear",
                    {"reason": "Supplier fixed the seam"}, check)
