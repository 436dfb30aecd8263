"""Brand operations: brands, trademarks, logos, and versioned purchasing specifications.

Services validate, guard the state machine, change, audit and flush; they never commit (the
caller's unit of work does). A specification version moves ``draft -> approved -> retired``;
only a draft may change, and approving a version retires the one it replaces.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from werkzeug.utils import secure_filename

from erp.brands.models import (
    SPECIFICATION_STATES,
    Brand,
    BrandKind,
    Specification,
    SpecificationAttachment,
    SpecificationState,
    SpecificationVersion,
    Trademark,
)
from erp.core import audit
from erp.core.codes import normalize_country
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, _l, format_number
from erp.core.models import User, utcnow
from erp.core.numbering import next_number
from erp.core.permissions import has_permission
from erp.core.states import InvalidTransition, transition
from erp.extensions import db


class BrandError(DomainError):
    """A brand or trademark rule was broken."""


class SpecificationError(DomainError):
    """A purchasing-specification rule was broken."""


BRAND_CODE_RE = re.compile(r"^[A-Z0-9-]{2,20}$")
MAX_LOGO_BYTES = 1024 * 1024
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
LOGO_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))

#: the longest text each specification content field may hold (None: unlimited text)
CONTENT_LIMITS: dict[str, int | None] = {
    "title": 200, "product_type": 120, "material": None, "composition": None,
    "dimensions": None, "tolerances": None, "packaging": None, "labelling": None,
    "care_label": None, "quality_standard": 200, "inspection_level": 80, "notes": None,
}
CONTENT_LABELS: dict[str, str] = {
    "title": _l("Title"), "product_type": _l("Product type"), "material": _l("Material"),
    "composition": _l("Composition"), "dimensions": _l("Dimensions"),
    "tolerances": _l("Tolerances"), "packaging": _l("Packaging"), "labelling": _l("Labelling"),
    "care_label": _l("Care label"), "quality_standard": _l("Quality standard"),
    "inspection_level": _l("Inspection level"), "notes": _l("Notes"),
}


# --------------------------------------------------------------------------- brands


def clean_brand_code(value: Any) -> str:
    """Return a brand code trimmed and upper-cased (``luma`` -> ``LUMA``).

    :raises ValueError: unless it is 2-20 letters, digits or dashes.
    """
    code = str(value or "").strip().upper()
    if not BRAND_CODE_RE.match(code):
        raise ValueError(_("%(code)s is not a brand code: use 2-20 letters, digits or dashes, "
                           "e.g. LUMA or NORD-PEAK", code=repr(code or _("an empty code"))))
    return code


def _brand_values(code: Any, name: Any, kind: Any, owner_company: Any) -> dict[str, Any]:
    """Validate the editable fields of a brand and return them cleaned.

    :raises ValidationError: naming the first bad field.
    """
    try:
        code = clean_brand_code(code)
    except ValueError as exc:
        # NOTE: the refusal of a malformed code, made a sentence: its full stop
        raise ValidationError(_("%(error)s.", error=str(exc)[:1].upper() + str(exc)[1:]),
                              field="code") from None
    name = str(name or "").strip()
    if not name:
        raise ValidationError(_("A brand needs a name."), field="name")
    if len(name) > 120:
        raise ValidationError(_("A brand name may have at most 120 characters."), field="name")
    try:
        kind = BrandKind(str(getattr(kind, "value", kind) or "").strip().lower())
    except ValueError:
        raise ValidationError(_("A brand's kind must be private or third_party."),
                              field="kind") from None
    owner = str(owner_company or "").strip() or None
    if owner and len(owner) > 200:
        raise ValidationError(_("An owner company may have at most 200 characters."),
                              field="owner_company")
    return {"code": code, "name": name, "kind": kind, "owner_company": owner}


def get_brand_by_code(code: str) -> Brand | None:
    """Return the brand with ``code`` (case-insensitive, trimmed) or None."""
    return db.session.scalar(select(Brand).where(Brand.code == str(code or "").strip().upper()))


def _ensure_code_free(code: str, brand: Brand | None, action: str) -> None:
    other = get_brand_by_code(code)
    if other is not None and other is not brand:
        if action == "create":
            message = _('To create brand "%(code)s", you must choose another code: brand '
                        "%(other)s already uses it.", code=code, other=other.name)
        else:
            message = _('To rename brand "%(code)s", you must choose another code: brand '
                        "%(other)s already uses it.", code=code, other=other.name)
        raise BrandError(message, field="code")


def create_brand(*, code: str, name: str, kind: BrandKind | str = BrandKind.private,
                 owner_company: str | None = None, active: bool = True,
                 actor: User | None) -> Brand:
    """Create a brand; its code is stored upper-case.

    :raises ValidationError: for a malformed code, a missing name or an unknown kind.
    :raises BrandError: if another brand has the code.
    """
    values = _brand_values(code, name, kind, owner_company)
    _ensure_code_free(values["code"], None, "create")
    brand = Brand(**values, active=bool(active))
    db.session.add(brand)
    db.session.flush()
    audit.record(brand, "brand.created", actor=actor, changes={
        k: [None, v] for k, v in {**values, "active": brand.active}.items() if v is not None})
    return brand


def update_brand(brand: Brand, *, code: str, name: str, kind: BrandKind | str,
                 owner_company: str | None, actor: User | None) -> Brand:
    """Change a brand's code, name, kind and owner company (only what differs is audited).

    :raises ValidationError: for a malformed code, a missing name or an unknown kind.
    :raises BrandError: if another brand has the new code.
    """
    values = _brand_values(code, name, kind, owner_company)
    _ensure_code_free(values["code"], brand, "rename")
    changes = audit.diff(brand, values)
    if changes:
        for key, value in values.items():
            setattr(brand, key, value)
        audit.record(brand, "brand.updated", actor=actor, changes=changes)
        db.session.flush()
    return brand


def set_brand_active(brand: Brand, active: bool, *, actor: User | None) -> Brand:
    """Reactivate or deactivate a brand (an inactive brand stays on record, unused)."""
    active = bool(active)
    if brand.active != active:
        brand.active = active
        audit.record(brand, "brand.reactivated" if active else "brand.deactivated",
                     actor=actor, changes={"active": [not active, active]})
        db.session.flush()
    return brand


def set_brand_logo(brand: Brand, data: bytes | None, *, actor: User | None) -> Brand:
    """Store a PNG or JPEG logo for a brand (recognised by its content), or remove it (None).

    :raises ValidationError: for an empty file, another format, or a file over 1 MB.
    """
    if data is None:
        if brand.logo_mime is not None:
            old = brand.logo_mime
            brand.logo, brand.logo_mime = None, None
            audit.record(brand, "brand.logo_removed", actor=actor, changes={"logo": [old, None]})
            db.session.flush()
        return brand
    if not data:
        raise ValidationError(_('To set the logo of brand "%(code)s", you must choose a file: '
                                "the one sent is empty.", code=brand.code), field="logo")
    if len(data) > MAX_LOGO_BYTES:
        raise ValidationError(_('To set the logo of brand "%(code)s", you must use an image of '
                                "at most 1 MB: this one has %(size)s MB.", code=brand.code,
                                size=format_number(len(data) / 1024 / 1024, 1)),
                              field="logo")
    mime = next((m for magic, m in LOGO_TYPES if data.startswith(magic)), None)
    if mime is None:
        raise ValidationError(_('To set the logo of brand "%(code)s", you must use a PNG or '
                                "JPEG image: this file is neither.", code=brand.code),
                              field="logo")
    old = brand.logo_mime
    brand.logo, brand.logo_mime = data, mime
    audit.record(brand, "brand.logo_set", actor=actor,
                 changes={"logo": [old, mime], "size": len(data)})
    db.session.flush()
    return brand


def add_trademark(brand: Brand, *, country: str, number: str, registered_on: date | None = None,
                  classes: str | None = None, actor: User | None) -> Trademark:
    """Record a trademark registration of ``brand`` in a country.

    :raises ValidationError: for an unknown country or a missing or over-long number.
    :raises BrandError: if the brand already has this number in this country.
    """
    try:
        country = normalize_country(country)
    except ValueError as exc:
        raise ValidationError(_('To add a trademark to brand "%(code)s", you must give its '
                                "country: %(error)s.", code=brand.code, error=str(exc)),
                              field="country") from None
    number = str(number or "").strip()
    if not number:
        raise ValidationError(_("A trademark needs its registration number."), field="number")
    if len(number) > 40:
        raise ValidationError(_("A trademark number may have at most 40 characters."),
                              field="number")
    classes = str(classes or "").strip() or None
    if classes and len(classes) > 80:
        raise ValidationError(_("The trademark classes may have at most 80 characters."),
                              field="classes")
    exists = db.session.scalar(select(Trademark.id).where(
        Trademark.brand_id == brand.id, Trademark.country == country, Trademark.number == number))
    if exists is not None:
        raise BrandError(_('To add trademark %(number)s (%(country)s) to brand "%(code)s", you '
                           "must give another number or country: the brand already has it.",
                           number=number, country=country, code=brand.code), field="number")
    trademark = Trademark(country=country, number=number, registered_on=registered_on,
                          classes=classes)
    brand.trademarks.append(trademark)
    db.session.flush()
    audit.record(trademark, "trademark.added", actor=actor, changes={
        "brand": brand.code, "country": [None, country], "number": [None, number],
        "registered_on": [None, registered_on], "classes": [None, classes]})
    return trademark


def remove_trademark(trademark: Trademark, *, actor: User | None) -> None:
    """Delete a trademark registration from its brand (recorded in the audit log)."""
    audit.record(trademark, "trademark.removed", actor=actor, changes={
        "brand": trademark.brand.code, "country": [trademark.country, None],
        "number": [trademark.number, None]})
    trademark.brand.trademarks.remove(trademark)
    db.session.flush()


# --------------------------------------------------------------------------- specifications


#: the refusals of specification content, by what is being done: (a field too long, no title)
_CONTENT_MESSAGES = {
    "create": (_l('To create a specification for brand "%(ref)s", you must shorten %(field)s '
                  "to at most %(most)s characters."),
               _l('To create a specification for brand "%(ref)s", you must give it a title.')),
    "edit": (_l('To edit specification "%(ref)s", you must shorten %(field)s to at most '
                "%(most)s characters."),
             _l('To edit specification "%(ref)s", you must give it a title.')),
}


def _content(fields: Mapping[str, Any], action: str, ref: str) -> dict[str, str | None]:
    """Validate specification content fields and return them trimmed (empty -> None).

    :param action: ``"create"`` (``ref`` is the brand code) or ``"edit"`` (the version label).
    :raises ValidationError: for a missing title or an over-long field.
    :raises ValueError: for a key that is not a content field (a programming error).
    """
    unknown = set(fields) - set(SpecificationVersion.CONTENT_FIELDS)
    if unknown:
        raise ValueError(f"Not specification content fields: {sorted(unknown)}")
    too_long, untitled = _CONTENT_MESSAGES[action]
    values: dict[str, str | None] = {}
    for key, value in fields.items():
        text = str(value).strip() if value is not None else ""
        limit = CONTENT_LIMITS[key]
        if limit is not None and len(text) > limit:
            raise ValidationError(too_long % {"ref": ref, "most": limit,
                                              "field": str(CONTENT_LABELS[key]).lower()},
                                  field=key)
        values[key] = text or None
    if "title" in values and not values["title"]:
        raise ValidationError(untitled % {"ref": ref}, field="title")
    return values


def create_specification(brand: Brand, fields: Mapping[str, Any], *,
                         actor: User | None) -> Specification:
    """Create a numbered specification of ``brand`` with version 1 as a draft.

    :param fields: content fields (see ``SpecificationVersion.CONTENT_FIELDS``); a title is
        required.
    :raises ValidationError: for a missing title or an over-long field.
    """
    values = _content({"title": None, **fields}, "create", brand.code)
    version = SpecificationVersion(version=1, state=SpecificationState.draft,
                                   created_by_id=getattr(actor, "id", None), **values)
    spec = Specification(number=next_number("SPEC"), versions=[version])
    db.session.add(spec)
    spec.brand = brand  # once in the session, so no autoflush meets it half-linked
    db.session.flush()
    audit.record(spec, "specification.created", actor=actor, changes={
        "brand": brand.code, "version": [None, 1], "title": [None, values["title"]]})
    return spec


#: the refusal of a change to a version that is not a draft, by action
_NOT_DRAFT_MESSAGES = {
    "edit": _l('To edit specification "%(ref)s", you must start a new version: version '
               "%(version)s is %(state)s, and only a draft may change."),
    "add an attachment to": _l('To add an attachment to specification "%(ref)s", you must '
                               "start a new version: version %(version)s is %(state)s, and "
                               "only a draft may change."),
    "remove an attachment from": _l('To remove an attachment from specification "%(ref)s", you '
                                    "must start a new version: version %(version)s is "
                                    "%(state)s, and only a draft may change."),
}


def _ensure_editable(version: SpecificationVersion, action: str) -> None:
    if not version.is_editable:
        state = SPECIFICATION_STATES.label(version.state)
        raise SpecificationError(_NOT_DRAFT_MESSAGES[action] % {
            "ref": version.label, "version": version.version, "state": state})


def update_specification_version(version: SpecificationVersion, fields: Mapping[str, Any], *,
                                 actor: User | None) -> SpecificationVersion:
    """Change the content of a draft version (only what differs is audited).

    :raises SpecificationError: if the version is approved or retired (read-only).
    :raises ValidationError: for a missing title or an over-long field.
    """
    _ensure_editable(version, "edit")
    values = _content(fields, "edit", version.label)
    changes = audit.diff(version, values)
    if changes:
        for key, value in values.items():
            setattr(version, key, value)
        audit.record(version, "specification_version.updated", actor=actor,
                     changes={**changes, "specification": version.specification.number,
                              "version": version.version})
        db.session.flush()
    return version


def _lock(spec: Specification) -> None:
    """Lock the specification row and reload its versions.

    Approving and starting versions read every version of a specification; the row lock
    makes concurrent approvals (or two "new version" clicks) queue instead of both winning.
    """
    db.session.flush()
    db.session.refresh(spec, with_for_update=True)
    db.session.scalars(select(SpecificationVersion)
                       .where(SpecificationVersion.specification_id == spec.id)
                       .execution_options(populate_existing=True)).all()


class _Named:
    """Stands in for a version in an error message: ``InvalidTransition`` reads ``number``."""

    def __init__(self, number: str):
        self.number = number


def _transition(version: SpecificationVersion, target: SpecificationState, *,
                actor: User | None, note: str | None = None,
                changes: Mapping | None = None) -> SpecificationState:
    """Move a version through ``SPECIFICATION_STATES``, naming it by its label on refusal.

    :raises InvalidTransition: if the table does not allow the move.
    """
    try:
        SPECIFICATION_STATES.check(version, target)
    except InvalidTransition as err:
        # the helper names an object by number or id; a version reads better by its label
        raise InvalidTransition(_Named(version.label), err.current, err.target,
                                SPECIFICATION_STATES) from None
    return transition(version, target, machine=SPECIFICATION_STATES, actor=actor, note=note,
                      changes={"specification": version.specification.number,
                               "version": version.version, **(changes or {})})


def approve_specification_version(version: SpecificationVersion, *,
                                  actor: User | None) -> SpecificationVersion:
    """Approve a draft version; the version it replaces (if any) is retired.

    :raises InvalidTransition: if the version is not a draft.
    """
    from erp.brands import plans  # plans builds on this module's rules

    spec = version.specification
    _lock(spec)
    if version.is_editable:
        plans.ensure_plan_complete(version)
    replaced = [v for v in spec.versions
                if v is not version and v.state == SpecificationState.approved]
    _transition(version, SpecificationState.approved, actor=actor,
                changes={"replaces": [v.version for v in replaced]} if replaced else None)
    version.approved_by_id = getattr(actor, "id", None)
    version.approved_at = utcnow()
    for old in replaced:
        _transition(old, SpecificationState.retired, actor=actor,
                    note=f"superseded by version {version.version}")
    db.session.flush()
    return version


def retire_specification_version(version: SpecificationVersion, *,
                                 actor: User | None) -> SpecificationVersion:
    """Retire an approved version: it stays on record but is no longer in force.

    :raises InvalidTransition: if the version is not approved.
    """
    _lock(version.specification)
    _transition(version, SpecificationState.retired, actor=actor)
    db.session.flush()
    return version


def new_specification_version(spec: Specification, *,
                              actor: User | None) -> SpecificationVersion:
    """Start version N+1 as a draft copy of the latest version: attachments and plan included.

    :raises SpecificationError: if the specification already has a draft (one at a time).
    """
    from erp.brands import plans  # plans builds on this module's rules

    _lock(spec)
    draft = next((v for v in spec.versions if v.is_editable), None)
    if draft is not None:
        raise SpecificationError(
            _('To start a new version of specification "%(number)s", you must first have draft '
              "version %(version)s approved: only one draft at a time.", number=spec.number,
              version=draft.version))
    latest = spec.latest
    version = SpecificationVersion(
        version=latest.version + 1, state=SpecificationState.draft,
        created_by_id=getattr(actor, "id", None),
        **{key: getattr(latest, key) for key in SpecificationVersion.CONTENT_FIELDS})
    plans.copy_plan(latest, version)
    for attachment in latest.attachments:
        version.attachments.append(SpecificationAttachment(
            filename=attachment.filename, mime=attachment.mime, size=attachment.size,
            data=attachment.data, uploaded_by_id=attachment.uploaded_by_id,
            uploaded_at=attachment.uploaded_at))
    spec.versions.append(version)
    db.session.flush()
    audit.record(version, "specification_version.created", actor=actor, changes={
        "specification": spec.number, "version": [None, version.version],
        "copied_from": latest.version, "attachments": len(version.attachments),
        "checks": len(version.checks)})
    return version


def clean_filename(filename: str | None) -> str:
    """Return a safe stored name for an uploaded file, keeping its extension.

    ``werkzeug.utils.secure_filename`` drops non-ASCII letters, so a name such as
    ``规格.pdf`` would lose its stem; it becomes ``attachment.pdf`` instead of ``pdf``.
    """
    stem, ext = os.path.splitext(os.path.basename(str(filename or "").replace("\\", "/")))
    stem = secure_filename(stem) or "attachment"
    ext = secure_filename(ext)[:20]
    stem = stem[:200 - len(ext) - 1]
    return f"{stem}.{ext}" if ext else stem


def add_attachment(version: SpecificationVersion, *, filename: str, data: bytes,
                   actor: User | None) -> SpecificationAttachment:
    """Attach a file (drawing, photo, test report) of at most 10 MB to a draft version.

    :raises SpecificationError: if the version is approved or retired (read-only).
    :raises ValidationError: for an empty file or one over 10 MB.
    """
    _ensure_editable(version, "add an attachment to")
    if not data:
        raise ValidationError(_('To attach a file to specification "%(ref)s", you must choose a '
                                "file: the one sent is empty.", ref=version.label),
                              field="file")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise ValidationError(_('To attach a file to specification "%(ref)s", you must keep it '
                                "to 10 MB: this one has %(size)s MB.", ref=version.label,
                                size=format_number(len(data) / 1024 / 1024, 1)),
                              field="file")
    name = clean_filename(filename)
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    attachment = SpecificationAttachment(filename=name, mime=mime[:100], size=len(data),
                                         data=data, uploaded_by_id=getattr(actor, "id", None))
    version.attachments.append(attachment)
    db.session.flush()
    audit.record(attachment, "specification_attachment.added", actor=actor, changes={
        "specification": version.specification.number, "version": version.version,
        "filename": [None, name], "size": len(data)})
    return attachment


def remove_attachment(attachment: SpecificationAttachment, *, actor: User | None) -> None:
    """Delete an attachment of a draft version.

    :raises SpecificationError: if its version is approved or retired (read-only).
    """
    version = attachment.version
    _ensure_editable(version, "remove an attachment from")
    audit.record(attachment, "specification_attachment.removed", actor=actor, changes={
        "specification": version.specification.number, "version": version.version,
        "filename": [attachment.filename, None]})
    version.attachments.remove(attachment)
    db.session.flush()


# --------------------------------------------------------------------------- predicates


def can_edit_specification_version(version: SpecificationVersion, actor: User) -> bool:
    """Return whether ``actor`` may edit ``version`` (and its attachments) now."""
    return version.is_editable and has_permission(actor, "brands.edit")


def can_approve_specification_version(version: SpecificationVersion, actor: User) -> bool:
    """Return whether ``actor`` may approve ``version`` now."""
    return SPECIFICATION_STATES.can(version.state, SpecificationState.approved) \
        and has_permission(actor, "brands.approve")


def can_retire_specification_version(version: SpecificationVersion, actor: User) -> bool:
    """Return whether ``actor`` may retire ``version`` now."""
    return SPECIFICATION_STATES.can(version.state, SpecificationState.retired) \
        and has_permission(actor, "brands.approve")


def can_start_specification_version(spec: Specification, actor: User) -> bool:
    """Return whether ``actor`` may start a new version of ``spec`` (no draft open)."""
    return not any(v.is_editable for v in spec.versions) and has_permission(actor, "brands.edit")
