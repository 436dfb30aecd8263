"""How the customs package's audit events read (see :func:`erp.core.audit.register`)."""

from __future__ import annotations

from erp.core import audit
from erp.core.i18n import _l

audit.register("customs.issued", _l("%(entity)s %(ref)s: %(declarations)s 9610 parcel "
                                    "declarations issued (%(lines)s lines, period %(period)s)."))
