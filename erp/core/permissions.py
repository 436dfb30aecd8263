"""Permissions: the one role-to-permission table, and the decorators views declare.

Every view declares either ``@permission_required("domain.action")`` or ``@public``;
``tests/test_routes_roles.py`` walks every route with every role against this table and fails
on a view that declares neither.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user
from werkzeug.local import LocalProxy

from erp.core.i18n import _l
from erp.core.models import Role

#: every permission a view may name, with what it allows (in the reader's language)
PERMISSIONS: dict[str, Any] = {
    "core.dashboard": _l("see the home dashboard"),
    "core.own_account": _l("change one's own password"),
    "core.own_jobs": _l("follow one's own background jobs (large exports, allocation runs, "
                        "reports) and download their files"),
    "core.manage_users": _l("create, edit, deactivate users and reset passwords"),
    "core.view_audit": _l("read and export the audit log"),
    "core.manage_settings": _l("change company settings and exchange rates"),
    "core.view_settings": _l("read company settings and exchange rates"),
    "core.view_costs": _l("see average costs and stock values wherever they are shown"),
    "brands.view": _l("read brands, trademarks and purchasing specifications"),
    "brands.edit": _l("create and edit brands and draft specifications"),
    "brands.approve": _l("approve and retire specification versions"),
    "catalog.view": _l("read and export categories, products and SKUs"),
    "catalog.edit": _l("create and edit categories, products and SKUs, import the catalog"),
    "warehouse.view": _l("read stock by SKU and bin, moves, counts and valuation"),
    "warehouse.move": _l("transfer stock, request adjustments, count"),
    "warehouse.manage": _l("set up warehouses and bins, open cycle counts, print bin labels"),
    "warehouse.transfer": _l("draft, pick, ship, receive and cancel transfers between "
                             "warehouses"),
    "warehouse.approve": _l("approve adjustments and accept cycle counts"),
    "warehouse.routes": _l("keep the warehouse routes: which warehouses ship to each "
                           "destination, first choice first"),
    "procurement.view": _l("read suppliers, price lists, purchase orders and receipts"),
    "procurement.edit": _l("keep suppliers and price lists, draft, submit and order purchase "
                           "orders"),
    "procurement.approve": _l("approve purchase orders above the approval threshold"),
    "procurement.receive": _l("receive deliveries against purchase orders and reverse receipts"),
    "quality.view": _l("read inspection lots, their plans, defects and photos, and the "
                       "switching state of suppliers"),
    "quality.inspect": _l("record the defects and photos of inspection lots and decide them"),
    "quality.release": _l("release rejected lots as a concession, scrap rejected goods, allow "
                          "reduced inspection and resume a discontinued inspection"),
    "orders.view": _l("search and read customer orders, export order lists"),
    "orders.edit": _l("import orders, hold, release, cancel, edit addresses, allocate"),
    "orders.manage_tokens": _l("create and revoke API tokens of the storefront"),
    "webhooks.manage": _l("register webhook endpoints of the storefront, read their deliveries "
                          "and replay events"),
    "shipping.view": _l("read waves, parcels, dispatch batches, carriers and the day board"),
    "shipping.work": _l("build waves, pick, pack, label, void parcels and dispatch batches"),
    "shipping.manage": _l("keep carriers, services, rate tables, tracking-number ranges and boxes"),
    "shipping.exceptions": _l("work the queue of parcels the carrier reported a problem with"),
    "shipping.rules": _l("edit, import, simulate, activate and roll back the shipping rules"),
    "shipping.bills": _l("import carriers' bills and read their disputes (billed weights and "
                         "amounts against erp's)"),
    "aftersales.view": _l("search and read after-sales cases, returns and refunds"),
    "aftersales.edit": _l("open and work cases: notes, attachments, refunds, replacements, "
                          "reasons"),
    "aftersales.approve": _l("approve refunds above the threshold and returns outside the window"),
    "aftersales.receive": _l("receive returned goods and inspect them (grades A, B, C)"),
    "aftersales.report": _l("read return-rate reports and export refunds for finance"),
    "reports.view": _l("open the manager dashboard and run the Excel reports (costs and values)"),
    "privacy.export": _l("look up a consumer's personal data by e-mail and export it (GDPR)"),
    "privacy.anonymise": _l("anonymise a consumer's personal data everywhere (GDPR erasure)"),
    "catalog.classify": _l("confirm products' customs classification (the review list)"),
    "customs.view": _l("read the China export (9610) data of batches, the customs ledger and "
                       "the monthly summaries, and download them for the declarant"),
    "production.view": _l("read made-to-order production orders and the production board"),
    "production.edit": _l("keep makers and measurement templates of made-to-order products, "
                          "move production orders on, cancel them"),
}

_ALL_STAFF = {"core.dashboard", "core.own_account", "core.own_jobs", "catalog.view",
              "warehouse.view", "orders.view", "shipping.view", "aftersales.view"}

#: the role-to-permission table: the only place that decides who may do what
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.admin: frozenset(PERMISSIONS),
    Role.manager: frozenset(_ALL_STAFF | {
        "core.view_audit", "core.view_settings", "brands.view", "brands.approve",
        "warehouse.approve", "warehouse.routes", "procurement.view", "procurement.approve",
        "quality.view", "quality.inspect", "quality.release", "aftersales.approve",
        "aftersales.report", "core.view_costs", "reports.view", "privacy.export",
        "shipping.exceptions", "shipping.rules", "shipping.bills", "catalog.classify",
        "customs.view", "production.view"}),
    Role.purchasing: frozenset(_ALL_STAFF | {
        "core.view_settings", "brands.view", "brands.edit", "catalog.edit", "procurement.view",
        "procurement.edit", "quality.view", "catalog.classify", "production.view",
        "production.edit"}),
    Role.warehouse: frozenset(_ALL_STAFF | {"warehouse.move", "warehouse.manage",
                                            "warehouse.routes",
                                            "warehouse.transfer",
                                            "procurement.view", "procurement.receive",
                                            "quality.view", "quality.inspect",
                                            "shipping.work", "shipping.manage",
                                            "aftersales.receive", "customs.view",
                                            "production.view"}),
    Role.customer_service: frozenset(_ALL_STAFF | {"orders.edit", "aftersales.edit",
                                                   "production.view",
                                                   "aftersales.report", "privacy.export",
                                                   "shipping.exceptions"}),
}


def permissions_of(user) -> frozenset[str]:
    """Return every permission the user's roles grant (empty for anonymous or inactive users)."""
    if isinstance(user, LocalProxy):  # current_user: resolve it once, not per attribute
        user = user._get_current_object()
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return frozenset()
    perms: set[str] = set()
    for role in user.roles:
        perms |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(perms)


def has_permission(user, permission: str) -> bool:
    """Return whether ``user`` holds ``permission``.

    :raises KeyError: for a permission name that is not declared (a programming error).
    """
    if permission not in PERMISSIONS:
        raise KeyError(f"Unknown permission {permission!r}")
    return permission in permissions_of(user)


def permission_required(permission: str) -> Callable:
    """Declare the permission a view needs: anonymous users go to login, others get 403."""
    if permission not in PERMISSIONS:
        raise KeyError(f"Unknown permission {permission!r}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from erp.extensions import login_manager
                return login_manager.unauthorized()
            if not has_permission(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = permission
        return wrapped

    return decorator


def public(view: Callable) -> Callable:
    """Declare a view open to anonymous users (only login and health check)."""
    view.public = True
    return view
