"""How the brands domain's audit events read (see :func:`erp.core.audit.register`)."""

from __future__ import annotations

from erp.brands.models import SPECIFICATION_STATES
from erp.core import audit
from erp.core.i18n import _l

audit.entity("brand", _l("Brand"))
audit.entity("trademark", _l("Trademark"))
audit.entity("specification", _l("Specification"))
audit.entity("specification_version", _l("Specification version"),
             states=SPECIFICATION_STATES)
audit.entity("specification_attachment", _l("Specification attachment"))
audit.entity("specification_check", _l("Inspection check"))

audit.fields({
    "owner_company": _l("owner company"),
    "logo": _l("logo"),
    "classes": _l("classes"),
    "registered_on": _l("registered on"),
    "brand": _l("brand"),
    "specification": _l("specification"),
    "version": _l("version"),
    "copied_from": _l("copied from version"),
    "attachments": _l("attachments"),
    "product_type": _l("product type"),
    "material": _l("material"),
    "composition": _l("composition"),
    "dimensions": _l("dimensions"),
    "tolerances": _l("tolerances"),
    "packaging": _l("packaging"),
    "labelling": _l("labelling"),
    "care_label": _l("care label"),
    "quality_standard": _l("quality standard"),
    "inspection_level": _l("inspection level"),
    "sampling_level": _l("inspection level (ISO 2859-1)"),
    "aql_critical": _l("AQL critical"),
    "aql_major": _l("AQL major"),
    "aql_minor": _l("AQL minor"),
    "checks": _l("checks"),
    "check": _l("check"),
    "defect_class": _l("defect class"),
    "method": _l("method"),
    "nominal": _l("nominal"),
    "tolerance_minus": _l("tolerance −"),
    "tolerance_plus": _l("tolerance +"),
    "unit": _l("unit"),
    "sequence": _l("order"),
})


audit.register_many({
    "brand.created": _l("Brand %(ref)s created."),
    "brand.updated": audit.with_changes(_l("Brand %(ref)s updated: %(changes)s.")),
    "brand.deactivated": _l("Brand %(ref)s deactivated."),
    "brand.reactivated": _l("Brand %(ref)s reactivated."),
    "brand.logo_set": _l("New logo uploaded for brand %(ref)s."),
    "brand.logo_removed": _l("Logo of brand %(ref)s removed."),
    "trademark.added": _l("Trademark %(number)s (%(country)s) added to brand %(brand)s."),
    "trademark.removed": _l("Trademark %(number_before)s (%(country_before)s) removed from "
                            "brand %(brand)s."),
    "specification.created": _l("Specification %(ref)s \"%(title)s\" created for brand "
                                 "%(brand)s."),
    "specification_version.created": _l("Version %(version)s of specification "
                                        "%(specification)s started from version "
                                        "%(copied_from)s."),
    "specification_version.updated": audit.with_changes(_l(
        "Specification %(specification)s version %(version)s updated: %(changes)s.")),
    "specification_version.approved": _l("Version %(version)s of specification "
                                         "%(specification)s approved."),
    "specification_version.retired": _l("Version %(version)s of specification "
                                        "%(specification)s retired."),
    "specification_attachment.added": _l("File %(filename)s attached to specification "
                                         "%(specification)s version %(version)s."),
    "specification_attachment.removed": _l("File %(filename_before)s removed from "
                                           "specification %(specification)s version "
                                           "%(version)s."),
    "specification_version.plan_set": audit.with_changes(_l(
        "Inspection plan of specification %(specification)s version %(version)s set: "
        "%(changes)s.")),
    "specification_check.added": _l("Check “%(check)s” added to the inspection plan of "
                                    "specification %(specification)s version %(version)s."),
    "specification_check.updated": audit.with_changes(_l(
        "Check “%(check)s” of specification %(specification)s version %(version)s "
        "changed: %(changes)s.")),
    "specification_check.removed": _l("Check “%(check)s” removed from the inspection "
                                      "plan of specification %(specification)s version "
                                      "%(version)s."),
})
