"""How the quality domain's audit events read (see :func:`erp.core.audit.register`)."""

from __future__ import annotations

from sqlalchemy import select

from erp.core import audit
from erp.core.i18n import _, _l
from erp.extensions import db
from erp.quality.models import INSPECTION_STATES, Inspection


def _inspection(ident) -> str | None:
    return db.session.scalar(select(Inspection.number).where(Inspection.id == int(ident)))


audit.entity("inspection", _l("Inspection lot"), states=INSPECTION_STATES, lookup=_inspection)
audit.entity("inspection_policy", _l("Switching policy"))
audit.entity("inspection_switching", _l("Switching state"))
audit.reference("inspection", _inspection)

audit.fields({
    "lot_size": _l("lot size"),
    "sample_size": _l("sample size"),
    "level": _l("inspection level"),
    "hold": _l("QC hold bin"),
    "found": _l("defects found (found, Ac, Re)"),
    "checks": _l("checks"),
    "scrapped_qty": _l("scrapped"),
    "reduced_allowed": _l("reduced inspection allowed"),
    "severity": _l("severity"),
})


def _found(e: audit.Event) -> str:
    found = e.raw("found") or {}
    return ", ".join(_("%(class)s %(found)s (Ac %(ac)s, Re %(re)s)",
                       **{"class": audit.show(cls), "found": audit.show(values[0]),
                          "ac": audit.show(values[1]), "re": audit.show(values[2])})
                     for cls, values in found.items()
                     if isinstance(values, list) and len(values) == 3) or "—"


def _accepted(e: audit.Event) -> str:
    return e.with_note(_("Inspection lot %(ref)s accepted: %(found)s; the goods went to "
                         "%(bin)s.", ref=e.ref, found=_found(e), bin=e["bin"]))


def _rejected(e: audit.Event) -> str:
    return e.with_note(_("Inspection lot %(ref)s rejected: %(found)s; the goods went to "
                         "quarantine in %(bin)s.", ref=e.ref, found=_found(e), bin=e["bin"]))


def _defects(e: audit.Event) -> str:
    checks = e.raw("checks") or []
    text = ", ".join(_("%(check)s: %(count)s", check=audit.show(c.get("check")),
                       count=audit.show((c.get("count") or [None, None])[-1]))
                     for c in checks if isinstance(c, dict)) or "—"
    return _("Defects recorded on inspection lot %(ref)s: %(checks)s.", ref=e.ref, checks=text)


def _switched(e: audit.Event) -> str:
    severity = e.raw("severity") or {}
    text = ", ".join(_("%(class)s from %(old)s to %(new)s", **{
        "class": audit.show(cls), "old": audit.show(values[0]), "new": audit.show(values[1])})
        for cls, values in severity.items() if isinstance(values, list) and len(values) == 2)
    return _("After inspection lot %(ref)s, inspection of specification %(spec)s from "
             "supplier %(supplier)s switched: %(changes)s.", ref=e.ref,
             spec=e["specification"], supplier=e["supplier"], changes=text or "—")


audit.register_many({
    "inspection.opened": _l("Inspection lot %(ref)s opened for %(reference)s: %(lot_size)s "
                            "units wait in %(hold)s, sample %(sample_size)s at level "
                            "%(level)s."),
    "inspection.defects_recorded": _defects,
    "inspection.photo_added": _l("Photo %(filename)s added to inspection lot %(ref)s."),
    "inspection.accepted": _accepted,
    "inspection.rejected": _rejected,
    "inspection.released": _l("Inspection lot %(ref)s released as a concession: %(quantity)s "
                              "units went to %(bin)s. Reason: %(note)s"),
    "inspection.cancelled": _l("Inspection lot %(ref)s cancelled: its receipt was reversed "
                               "(%(note)s)."),
    "inspection.scrapped": _l("%(quantity)s units of rejected inspection lot %(ref)s scrapped "
                              "into %(bin)s: %(reason)s"),
    "inspection.switched": _switched,
    "inspection_policy.updated": audit.with_changes(_l(
        "Switching policy of supplier %(supplier_id)s and specification %(specification_id)s "
        "changed: %(changes)s.")),
    "inspection_switching.resumed": _l("Inspection of supplier %(supplier_id)s under "
                                       "specification %(specification_id)s resumed at "
                                       "tightened."),
})
