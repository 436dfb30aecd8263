"""How the core's audit events read: users, settings, exchange rates, database backups.

Registered when :mod:`erp.core.views` is imported; see :func:`erp.core.audit.register`. The
shared names of common keys of changes (code, name, quantity...) are declared here too, for
every domain's sentences.
"""

from __future__ import annotations

from sqlalchemy import select

from erp.core import audit
from erp.core.i18n import LANGUAGES, _, _l, ngettext
from erp.core.models import ExchangeRate, Role
from erp.extensions import db

audit.fields({
    # keys many domains' changes share
    "code": _l("code"),
    "name": _l("name"),
    "active": _l("active"),
    "note": _l("note"),
    "notes": _l("notes"),
    "reason": _l("reason"),
    "email": _l("e-mail"),
    "phone": _l("phone"),
    "address": _l("address"),
    "country": _l("country"),
    "currency": _l("currency"),
    "quantity": _l("quantity"),
    "qty": _l("quantity"),
    "sku": _l("SKU"),
    "bin": _l("bin"),
    "warehouse": _l("warehouse"),
    "order": _l("order"),
    "description": _l("description"),
    "title": _l("title"),
    "kind": _l("kind"),
    "size": _l("size (bytes)"),
    "filename": _l("file name"),
    "file": _l("file"),
    "lines": _l("lines"),
    "line": _l("line"),
    "amount": _l("amount"),
    "price": _l("price"),
    "unit_price": _l("unit price"),
    "weight_g": _l("weight (g)"),
    "length_mm": _l("length (mm)"),
    "width_mm": _l("width (mm)"),
    "height_mm": _l("height (mm)"),
    "expected_date": _l("expected date"),
    "tracking_number": _l("tracking number"),
    "details": _l("details"),
    "count": _l("count"),
    "counts": _l("counts"),
    "units": _l("units"),
    "value": _l("value"),
    "status": _l("status"),
    "state": _l("status"),
    # the core's own
    "username": _l("username"),
    "full_name": _l("full name"),
    "roles": _l("roles"),
    "language": _l("language"),
    "rate": _l("rate"),
    "valid_from": _l("valid from"),
    "revision": _l("migration revision"),
    "session": _l("session"),
})

audit.entity("user", _l("User"))
audit.entity("setting", _l("Setting"))
audit.entity("database", _l("Database"))


def _exchange_rate(entity_id: str) -> str | None:
    row = db.session.execute(select(ExchangeRate.currency, ExchangeRate.valid_from)
                             .where(ExchangeRate.id == int(entity_id))).first()
    return row.currency if row else None


audit.entity("exchange_rate", _l("Exchange rate"), lookup=_exchange_rate)


def _roles(values) -> str:
    names = []
    for value in values or ():
        try:
            names.append(Role(value).label)
        except ValueError:
            names.append(str(value))
    return ", ".join(names) or "—"


def _user_created(e: audit.Event) -> str:
    return _("User %(ref)s created with the roles %(roles)s.", ref=e.ref,
             roles=_roles(e.raw("roles")))


def _user_updated(e: audit.Event) -> str:
    parts = []
    if "active" in e.changes and len(e.changes) == 1:
        return (_("User %(ref)s reactivated.", ref=e.ref) if e.raw("active")
                else _("User %(ref)s deactivated.", ref=e.ref))
    if "roles" in e.changes:
        parts.append(_("roles changed from %(old)s to %(new)s",
                       old=_roles(e.raw_before("roles")), new=_roles(e.raw("roles"))))
    rest = e.changed(skip=("roles",))
    if rest:
        parts.append(rest)
    return _("User %(ref)s updated: %(changes)s.", ref=e.ref, changes=audit.join(parts))


def _language(value) -> str:
    return LANGUAGES.get(value) or _("the browser's language")


def _language_changed(e: audit.Event) -> str:
    return _("User %(ref)s now works in %(language)s.", ref=e.ref,
             language=_language(e.raw("language")))


def _sessions_ended(e: audit.Event) -> str:
    from erp.core.sessions import END_REASONS
    reason = END_REASONS.get(e.raw("reason") or "")
    return ngettext("%(num)d session of user %(ref)s ended: %(reason)s",
                    "%(num)d sessions of user %(ref)s ended: %(reason)s",
                    int(e.raw("count") or 0), ref=e.ref,
                    reason=str(reason) if reason else e.raw("reason"))


def _settings(e: audit.Event) -> str:
    from erp.core.settings import SETTINGS
    parts = []
    for key in e.changes:
        definition = SETTINGS.get(key)
        label = str(definition.label) if definition else key.replace("_", " ")
        parts.append(_("%(setting)s from %(old)s to %(new)s", setting=label,
                       old=e.before(key), new=e[key]))
    return _("Settings changed: %(changes)s.", changes=audit.join(parts))


audit.register_many({
    "user.created": _user_created,
    "user.updated": _user_updated,
    "user.password_reset": _l("Password of user %(ref)s reset by an admin; they must change "
                              "it at their next sign-in."),
    "user.password_changed": _l("User %(ref)s changed their password."),
    "user.language_changed": _language_changed,
    "user.sessions_ended": _sessions_ended,
    "user.session_ended": _l("User %(ref)s ended one of their sessions."),
    "user.two_factor_enabled": _l("User %(ref)s turned on two-factor sign-in."),
    "user.two_factor_disabled": _l("User %(ref)s turned off two-factor sign-in."),
    "user.two_factor_reset": _l("Second factor of user %(ref)s reset by an admin; their "
                                "sessions ended."),
    "user.recovery_code_used": _l("User %(ref)s signed in with a recovery code (%(count)s "
                                  "left)."),
    "user.recovery_codes_regenerated": _l("User %(ref)s made new recovery codes."),
    "setting.updated": _settings,
    "exchange_rate.created": _l("Exchange rate of %(ref)s from %(valid_from)s set to "
                                "%(rate)s."),
    "exchange_rate.updated": _l("Exchange rate of %(ref)s changed from %(rate_before)s to "
                                "%(rate)s."),
    "exchange_rate.deleted": _l("Exchange rate of %(currency_before)s from "
                                "%(valid_from_before)s (%(rate_before)s) deleted."),
    "database.backed_up": _l("Database backed up to %(file)s."),
    "database.restored": _l("Database restored from backup %(file)s."),
})
