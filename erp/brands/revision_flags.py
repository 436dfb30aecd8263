"""Specification versions flagged for revision: raise, clear, and read the flags.

A flag says "the goods made to this version come back for manufacturing reasons too often":
after-sales' periodic check (:mod:`erp.aftersales.spec_revision`) measures the returns and
calls :func:`raise_flag` with the window, the counts and the reasons; brands only stores them.
A version has at most one open flag. A manager clears it with a reason
(:func:`clear_flag`), or approving a newer version of the specification clears the open flags
of the versions it replaces (:func:`clear_for_new_version`). Every change is audited on the
version. Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, exists, func, select

from erp.brands.models import RevisionFlag, SpecificationVersion
from erp.core import audit
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.core.locking import lock
from erp.core.models import User, utcnow
from erp.extensions import db

#: the longest reason a manager may give when clearing a flag
CLEAR_REASON_MAX = 300


class RevisionFlagError(DomainError):
    """A flag cannot be raised or cleared as asked (the message says why)."""


def open_flag(version_id: int) -> RevisionFlag | None:
    """Return the open flag of a version, if it has one."""
    return db.session.scalar(select(RevisionFlag).where(
        RevisionFlag.version_id == version_id, RevisionFlag.cleared_at.is_(None)))


def last_cleared_at(version_ids: Iterable[int]) -> dict[int, datetime]:
    """Return ``{version id: when its latest flag was cleared}`` for the versions given."""
    ids = list(version_ids)
    if not ids:
        return {}
    return dict(db.session.execute(
        select(RevisionFlag.version_id, func.max(RevisionFlag.cleared_at))
        .where(RevisionFlag.version_id.in_(ids), RevisionFlag.cleared_at.is_not(None))
        .group_by(RevisionFlag.version_id)).all())


def flags_of(version_id: int) -> list[RevisionFlag]:
    """Return every flag of a version, newest first."""
    return list(db.session.scalars(select(RevisionFlag).where(
        RevisionFlag.version_id == version_id).order_by(RevisionFlag.raised_at.desc(),
                                                         RevisionFlag.id.desc())))


def open_flags_by_version(version_ids: Iterable[int]) -> dict[int, RevisionFlag]:
    """Return ``{version id: open flag}`` of the versions given that have one."""
    ids = list(version_ids)
    if not ids:
        return {}
    return {f.version_id: f for f in db.session.scalars(select(RevisionFlag).where(
        RevisionFlag.version_id.in_(ids), RevisionFlag.cleared_at.is_(None)))}


def flagged_condition(specification_id_column) -> object:
    """Return the SQL condition "a version of this specification has an open flag"."""
    return exists().where(RevisionFlag.version_id == SpecificationVersion.id,
                          SpecificationVersion.specification_id == specification_id_column,
                          RevisionFlag.cleared_at.is_(None))


def flagged_specification_ids(specification_ids: Iterable[int]) -> set[int]:
    """Return which of the specifications given have a version with an open flag."""
    ids = list(specification_ids)
    if not ids:
        return set()
    return set(db.session.scalars(
        select(SpecificationVersion.specification_id).distinct()
        .join(RevisionFlag, RevisionFlag.version_id == SpecificationVersion.id)
        .where(SpecificationVersion.specification_id.in_(ids),
               RevisionFlag.cleared_at.is_(None))))


def open_flag_count() -> int:
    """Return how many specification versions stand flagged for revision."""
    return db.session.scalar(select(func.count()).select_from(RevisionFlag).where(
        RevisionFlag.cleared_at.is_(None))) or 0


def open_flags_query() -> Select:
    """Return the open flags, newest first (for a list or a dashboard)."""
    return (select(RevisionFlag).where(RevisionFlag.cleared_at.is_(None))
            .order_by(RevisionFlag.raised_at.desc(), RevisionFlag.id.desc()))


def _reasons_text(reasons: list) -> str:
    return ", ".join(f"{code} {units}" for code, _name, units in reasons)


def raise_flag(version: SpecificationVersion, *, window_from: datetime, window_to: datetime,
               units_shipped: int, units_returned: int, reasons: list[tuple[str, str, int]],
               actor: User | None = None) -> RevisionFlag | None:
    """Flag ``version`` for revision with the counts measured; None if it is flagged already.

    The version row is locked first, so two checks running at once raise one flag.

    :param reasons: ``[(reason code, reason name, units)]``, most units first.
    :raises RevisionFlagError: when nothing was returned (a flag needs returned units).
    """
    if units_returned <= 0 or not reasons:
        raise RevisionFlagError(_(
            'To flag specification %(spec)s for revision, some units must have come back for '
            "manufacturing reasons.", spec=version.label))
    lock(version)
    if open_flag(version.id) is not None:
        return None
    reasons = [[str(code), str(name), int(units)] for code, name, units in reasons]
    flag = RevisionFlag(version_id=version.id, raised_at=utcnow(), window_from=window_from,
                        window_to=window_to, units_shipped=int(units_shipped),
                        units_returned=int(units_returned), reasons=reasons)
    db.session.add(flag)
    db.session.flush()
    audit.record(version, "specification_version.flagged", actor=actor, changes={
        "specification": version.specification.number, "version": version.version,
        "units_returned": int(units_returned), "units_shipped": int(units_shipped),
        "reasons": _reasons_text(reasons)})
    return flag


def clear_flag(flag: RevisionFlag, *, actor: User | None, reason: str) -> RevisionFlag:
    """Clear an open flag with the manager's reason.

    :raises ValidationError: without a reason, or with one over 300 characters.
    :raises RevisionFlagError: if the flag was cleared already.
    """
    reason = (reason or "").strip()
    version = flag.version
    if not reason:
        raise ValidationError(_("To clear the revision flag of specification %(spec)s, you "
                                "must give a reason.", spec=version.label), field="reason")
    if len(reason) > CLEAR_REASON_MAX:
        raise ValidationError(_("A reason has at most %(num)s characters.",
                                num=CLEAR_REASON_MAX), field="reason")
    lock(flag)
    if flag.cleared_at is not None:
        raise RevisionFlagError(_(
            "The revision flag of specification %(spec)s was already cleared on %(when)s.",
            spec=version.label, when=flag.cleared_at.strftime("%Y-%m-%d %H:%M")))
    _clear(flag, actor=actor, reason=reason)
    return flag


def _clear(flag: RevisionFlag, *, actor: User | None, reason: str) -> None:
    flag.cleared_at = utcnow()
    flag.cleared_by_id = getattr(actor, "id", None)
    flag.clear_reason = reason
    db.session.flush()
    version = flag.version
    audit.record(version, "specification_version.flag_cleared", actor=actor, changes={
        "specification": version.specification.number, "version": version.version,
        "reason": reason})


def clear_for_new_version(version: SpecificationVersion, *, actor: User | None) -> int:
    """Clear the open flags of the other versions of ``version``'s specification.

    Called when ``version`` is approved (the revision the flags asked for); returns how many
    flags were cleared.
    """
    flags = list(db.session.scalars(
        select(RevisionFlag).join(SpecificationVersion,
                                  SpecificationVersion.id == RevisionFlag.version_id)
        .where(SpecificationVersion.specification_id == version.specification_id,
               SpecificationVersion.id != version.id, RevisionFlag.cleared_at.is_(None))
        .order_by(RevisionFlag.id).with_for_update(of=RevisionFlag)
        .execution_options(populate_existing=True)))
    for flag in flags:
        _clear(flag, actor=actor, reason=f"version {version.version} approved")
    return len(flags)
