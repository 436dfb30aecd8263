"""How the personal-data events read (see :func:`erp.core.audit.register`).

The person is never named: the event holds a salted hash of the e-mail address only.
"""

from __future__ import annotations

from erp.core import audit
from erp.core.i18n import _, _l, ngettext

audit.entity("data_subject", _l("Person"))

audit.fields({
    "subject_hash": _l("person (hashed e-mail)"),
    "format": _l("format"),
    "orders": _l("orders"),
    "cases": _l("cases"),
    # the audit rows an anonymisation scrubbed, each with the digest it was sealed with
    "scrubbed_events": _l("audit events scrubbed (with their sealed digests)"),
})


def _anonymised(e: audit.Event) -> str:
    orders, cases = e.raw("orders") or [], e.raw("cases") or []
    return e.with_note(_("Personal data of one person anonymised: %(orders)s, %(cases)s.",
                         orders=ngettext("%(num)d order", "%(num)d orders", len(orders)),
                         cases=ngettext("%(num)d after-sales case", "%(num)d after-sales cases",
                                        len(cases))), key="reason")


audit.register_many({
    "privacy.exported": _l("Personal data of one person exported (%(format)s)."),
    "privacy.anonymised": _anonymised,
})
