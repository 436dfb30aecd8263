"""Catalog screens: the category tree, products and SKUs."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

import erp.catalog.audit_text  # noqa: F401 - registers the audit log's sentences
from erp.brands.models import SPECIFICATION_STATES, Brand, Specification, SpecificationVersion
from erp.catalog import cn_customs, queries, review, services, transport
from erp.catalog import excel as catalog_excel
from erp.catalog import home as _home  # noqa: F401 - registers the home page's cards
from erp.catalog import search as _search  # noqa: F401 - registers the header search's finder
from erp.catalog.forms import (
    BulkStatusForm,
    CategoryForm,
    ConfirmCustomsForm,
    MoveCategoryForm,
    ProductForm,
    SkuForm,
)
from erp.catalog.models import (
    SKU_STATUS_LABELS,
    TRANSPORT_FIELDS,
    BatteryKind,
    Category,
    Product,
    ProductCustomsReview,
    Sku,
    SkuStatus,
)
from erp.core import exports, importing
from erp.core.codes import format_hs_code
from erp.core.errors import DomainError
from erp.core.i18n import _, _l, format_number, ngettext
from erp.core.permissions import permission_required
from erp.core.settings import base_currency
from erp.core.viewhelpers import (
    form_errors,
    get_or_404,
    id_url,
    page_arg,
    paginate_rows,
    xlsx_response,
)
from erp.extensions import db

bp = Blueprint("catalog", __name__)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value and value > 0 else None


def sku_filters_from_request() -> queries.SkuFilters:
    """Read the SKU list's search, filters and sort from the query string."""
    status = request.args.get("status") or None
    return queries.SkuFilters(
        q=(request.args.get("q") or "").strip() or None, brand_id=_int_arg("brand"),
        category_id=_int_arg("category"),
        status=status if status in {s.value for s in SkuStatus} else None,
        sort=request.args.get("sort") if request.args.get("sort") in queries.SKU_SORTS else "code",
        descending=request.args.get("dir") == "desc")


def _category_options(exclude_path: str | None = None) -> list[tuple[str, str]]:
    rows = db.session.execute(select(Category.id, Category.code, Category.full_name,
                                     Category.path).order_by(Category.full_name)).all()
    return [(str(r.id), f"{r.full_name} ({r.code})") for r in rows
            if not (exclude_path and r.path.startswith(exclude_path))]


def _brand_options() -> list[tuple[str, str]]:
    rows = db.session.execute(select(Brand.id, Brand.code, Brand.name).order_by(Brand.code))
    return [(str(r.id), f"{r.code} {r.name}") for r in rows]


def _customs_args(form) -> dict:
    return {"hs_code": form.hs_code.data, "customs_description": form.customs_description.data,
            "origin_country": form.origin_country.data, **form.transport_values(),
            **form.cn_values()}


def _transport_rows(sku: Sku) -> list[dict]:
    """Return the SKU page's transport rows: each attribute's value and where it comes from."""
    effective = transport.effective_transport(sku)
    rows = [{"label": transport.field_label(field).capitalize(),
             "value": transport.describe(field, value.value), "source": value.source,
             "source_label": value.source_label} for field, value in effective.items()]
    if effective["battery"].value not in (None, BatteryKind.none):
        own = sku.battery_cells is not None
        rows.insert(1, {"label": _("Battery cells per unit"),
                        "value": str(sku.battery_cells if own else 1),
                        "source": "sku" if own else "default",
                        "source_label": _("SKU") if own else _("Default")})
    return rows


def _cn_rows(sku: Sku) -> list[dict]:
    """Return the SKU page's Chinese customs rows: each effective value and where it comes from."""
    data = cn_customs.effective_cn_customs([sku.id])[sku.id]
    units = cn_customs.unit_codes()

    def unit(code):
        return f"{code} {units.get(code, '?')}" if code else None

    def factor(unit_code, value):
        if value is not None:
            return format_number(value.normalize())
        if unit_code == cn_customs.KG:
            return _("net weight in kg")
        if unit_code == cn_customs.GRAM:
            return _("net weight in g")
        return None

    shown = [("hs_code", data.hs_code), ("name", data.name),
             ("elements", " | ".join(data.elements) or None), ("sale_unit", unit(data.sale_unit)),
             ("unit1", unit(data.unit1)), ("factor1", factor(data.unit1, data.factor1)
                                           if data.unit1 else None),
             ("unit2", unit(data.unit2)), ("factor2", factor(data.unit2, data.factor2)
                                           if data.unit2 else None)]
    rows = []
    for key, value in shown:
        # a factor left empty is read from the unit's level (net weight): the unit's source
        source = data.sources.get(key) or data.sources.get(key.replace("factor", "unit"))
        kind = ("missing" if value is None or source is None
                else "sku" if source == cn_customs.SKU_SOURCE else "category")
        rows.append({"label": cn_customs.CN_LABELS["cn_" + key], "value": value,
                     "source": kind,
                     "source_label": _("SKU") if kind == "sku" else source or ""})
    return rows


# --- SKUs -------------------------------------------------------------------------------------

@bp.get("/skus")
@permission_required("catalog.view")
def sku_list():
    """List SKUs with search, brand/category/status filters, sort and pagination."""
    filters = sku_filters_from_request()
    page = paginate_rows(queries.sku_list_query(filters), count=queries.sku_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("catalog/sku_list.html", page=page, filters=filters,
                           brands=_brand_options(), categories=_category_options(),
                           bulk=BulkStatusForm(), sorts=queries.SKU_SORTS,
                           status_labels=SKU_STATUS_LABELS,
                           sku_url=id_url("catalog.sku_detail", "sku_id"),
                           product_url=id_url("catalog.product_detail", "product_id"))


@bp.get("/skus/<int:sku_id>")
@permission_required("catalog.view")
def sku_detail(sku_id: int):
    """Show a SKU with its effective customs data and where each value comes from."""
    sku = get_or_404(Sku, sku_id)
    return render_template("catalog/sku_detail.html", sku=sku,
                           customs=services.effective_customs(sku), format_hs=format_hs_code,
                           cn=_cn_rows(sku),
                           review_state=cn_customs.unreviewed_products([sku.product_id]),
                           transport=_transport_rows(sku), status_labels=SKU_STATUS_LABELS,
                           base=base_currency())


@bp.route("/products/<int:product_id>/skus/new", methods=["GET", "POST"])
@permission_required("catalog.edit")
def create_sku(product_id: int):
    """Add a SKU to a product."""
    product = get_or_404(Product, product_id)
    form = SkuForm()
    form.set_inherited(transport.category_transport_defaults().get(product.category_id, {}))
    if form.validate_on_submit():
        try:
            sku = services.create_sku(product=product, code=form.code.data, actor=current_user,
                                      **form.sku_values())
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("SKU %(code)s created.", code=sku.code), "success")
            return redirect(url_for(".sku_detail", sku_id=sku.id))
    return render_template("catalog/sku_form.html", form=form, product=product, sku=None)


@bp.route("/skus/<int:sku_id>/edit", methods=["GET", "POST"])
@permission_required("catalog.edit")
def edit_sku(sku_id: int):
    """Edit a SKU (its code and cost are not editable here)."""
    sku = get_or_404(Sku, sku_id)
    form = SkuForm(obj=sku)
    form.code.render_kw = {"readonly": True}
    form.set_inherited(transport.category_transport_defaults().get(sku.product.category_id, {}))
    if request.method == "GET":
        form.status.data = sku.status.value
        form.load_transport(sku)
    if form.validate_on_submit():
        form.code.data = sku.code
        try:
            services.update_sku(sku, actor=current_user, **form.sku_values())
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("SKU %(code)s saved.", code=sku.code), "success")
            return redirect(url_for(".sku_detail", sku_id=sku.id))
    return render_template("catalog/sku_form.html", form=form, product=sku.product, sku=sku)


@bp.post("/skus/status")
@permission_required("catalog.edit")
def bulk_sku_status():
    """Set the status of the ticked SKUs."""
    form = BulkStatusForm()
    if not form.validate_on_submit():
        flash(_("Tick at least one SKU and choose a status."), "error")
        return redirect(request.referrer or url_for(".sku_list"))
    skus = db.session.scalars(select(Sku).where(Sku.id.in_(form.sku_ids.data))).all()
    changed = services.set_sku_status(skus, form.status.data, actor=current_user)
    db.session.commit()
    flash(ngettext("%(num)d SKU set to %(status)s.", "%(num)d SKUs set to %(status)s.", changed,
                   status=SKU_STATUS_LABELS[SkuStatus(form.status.data)]), "success")
    return redirect(request.referrer or url_for(".sku_list"))


# --- products ---------------------------------------------------------------------------------

def _product_form(product: Product | None = None) -> ProductForm:
    form = ProductForm(obj=product)
    form.brand_id.choices = [("", _("Choose a brand"))] + _brand_options()
    form.category_id.choices = [("", _("Choose a category"))] + _category_options()
    versions = db.session.execute(
        select(SpecificationVersion.id, Specification.number, SpecificationVersion.version,
               SpecificationVersion.title, SpecificationVersion.state, Brand.code)
        .join(Specification, SpecificationVersion.specification_id == Specification.id)
        .join(Brand, Specification.brand_id == Brand.id).order_by(Specification.number,
                                                  SpecificationVersion.version)).all()
    form.spec_version_id.choices = [("", _("None"))] + [
        (str(v.id), f"{v.code}: {v.number} v{v.version} {v.title} "
                    f"({SPECIFICATION_STATES.label(v.state)})") for v in versions]
    if request.method == "GET" and product is not None:
        form.brand_id.data = str(product.brand_id)
        form.category_id.data = str(product.category_id)
        form.spec_version_id.data = str(product.spec_version_id or "")
    return form


def _product_values(form: ProductForm) -> dict:
    spec_id = form.spec_version_id.data
    return {"name": form.name.data, "description": form.description.data,
            "brand": db.session.get(Brand, int(form.brand_id.data)),
            "category": db.session.get(Category, int(form.category_id.data)),
            "spec_version": db.session.get(SpecificationVersion, int(spec_id))
            if spec_id else None}


@bp.get("/products")
@permission_required("catalog.view")
def product_list():
    """List products with search and brand/category filters."""
    stmt = queries.product_list_query(request.args.get("q"), _int_arg("brand"),
                                      _int_arg("category"))
    page = db.paginate(stmt, page=page_arg(), per_page=current_app.config["ERP_PAGE_SIZE"],
                       error_out=False)
    counts = dict(db.session.execute(
        select(Sku.product_id, func.count()).where(Sku.product_id.in_([p.id for p in page.items]))
        .group_by(Sku.product_id)).all())
    return render_template("catalog/product_list.html", page=page, counts=counts,
                           brands=_brand_options(), categories=_category_options())


@bp.route("/products/new", methods=["GET", "POST"])
@permission_required("catalog.edit")
def create_product():
    """Create a product (style)."""
    form = _product_form()
    if form.validate_on_submit():
        try:
            product = services.create_product(code=form.code.data, actor=current_user,
                                               **_product_values(form))
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Product %(code)s created; now add its SKUs.", code=product.code), "success")
            return redirect(url_for(".product_detail", product_id=product.id))
    return render_template("catalog/product_form.html", form=form, product=None)


@bp.get("/products/<int:product_id>")
@permission_required("catalog.view")
def product_detail(product_id: int):
    """Show a product and its SKUs."""
    product = get_or_404(Product, product_id)
    return render_template("catalog/product_detail.html", product=product,
                           bulk=BulkStatusForm(), status_labels=SKU_STATUS_LABELS,
                           review_state=cn_customs.unreviewed_products([product.id]).get(
                               product.id),
                           review=db.session.get(ProductCustomsReview, product.id),
                           review_labels=review.STATE_LABELS)


@bp.route("/products/<int:product_id>/edit", methods=["GET", "POST"])
@permission_required("catalog.edit")
def edit_product(product_id: int):
    """Edit a product's name, brand, category, description and specification version."""
    product = get_or_404(Product, product_id)
    form = _product_form(product)
    form.code.render_kw = {"readonly": True}
    if form.validate_on_submit():
        try:
            services.update_product(product, actor=current_user, **_product_values(form))
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Product %(code)s saved.", code=product.code), "success")
            return redirect(url_for(".product_detail", product_id=product.id))
    return render_template("catalog/product_form.html", form=form, product=product)


# --- categories -------------------------------------------------------------------------------

@bp.get("/categories")
@permission_required("catalog.view")
def category_list():
    """Show the category tree with each category's own and inherited customs defaults."""
    categories = db.session.scalars(queries.category_tree_query()).all()
    sku_counts = dict(db.session.execute(
        select(Product.category_id, func.count(Sku.id)).join(Sku)
        .group_by(Product.category_id)).all())
    return render_template("catalog/category_list.html", categories=categories,
                           inherited=services.category_customs_defaults(), sku_counts=sku_counts,
                           format_hs=format_hs_code, transport=_category_transport(categories),
                           cn_defaults=cn_customs.category_cn_defaults())


def _category_transport(categories) -> dict[int, list[dict]]:
    """Return, per category, the transport attributes set on it or above it, for the tree."""
    defaults = transport.category_transport_defaults()
    out = {}
    for category in categories:
        out[category.id] = [
            {"text": transport.describe(field, value.value) if field == "battery"
             else _("%(attribute)s: %(value)s", attribute=transport.field_label(field),
                    value=transport.describe(field, value.value)),
             "own": getattr(category, field) is not None, "source_label": value.source_label}
            for field in TRANSPORT_FIELDS
            if (value := defaults.get(category.id, {}).get(field)) is not None]
    return out


@bp.route("/categories/new", methods=["GET", "POST"])
@permission_required("catalog.edit")
def create_category():
    """Create a category, at the root or under a parent."""
    form = CategoryForm()
    form.parent_id.choices = [("", _("(root)"))] + _category_options()
    if request.method == "GET" and request.args.get("parent"):
        form.parent_id.data = request.args["parent"]
    parent_id = form.parent_id.data
    if parent_id and str(parent_id).isdigit():
        form.set_inherited(transport.category_transport_defaults().get(int(parent_id), {}))
    if form.validate_on_submit():
        parent = db.session.get(Category, int(form.parent_id.data)) if form.parent_id.data \
            else None
        try:
            category = services.create_category(code=form.code.data, name=form.name.data,
                                                parent=parent, actor=current_user,
                                                **_customs_args(form))
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Category %(name)s created.", name=category.full_name), "success")
            return redirect(url_for(".category_list"))
    return render_template("catalog/category_form.html", form=form, category=None)


@bp.route("/categories/<int:category_id>/edit", methods=["GET", "POST"])
@permission_required("catalog.edit")
def edit_category(category_id: int):
    """Rename a category or change its customs defaults."""
    category = get_or_404(Category, category_id)
    form = CategoryForm(obj=category)
    del form.parent_id
    form.code.render_kw = {"readonly": True}
    form.set_inherited(transport.category_transport_defaults().get(category.parent_id, {}))
    if request.method == "GET":
        form.load_transport(category)
    if form.validate_on_submit():
        try:
            services.update_category(category, name=form.name.data, actor=current_user,
                                     **_customs_args(form))
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Category %(name)s saved.", name=category.full_name), "success")
            return redirect(url_for(".category_list"))
    return render_template("catalog/category_form.html", form=form, category=category,
                           move=_move_form(category))


def _move_form(category: Category) -> MoveCategoryForm:
    form = MoveCategoryForm()
    form.parent_id.choices = [("", _("(root)"))] + _category_options(exclude_path=category.path)
    if request.method == "GET":
        form.parent_id.data = str(category.parent_id or "")
    return form


@bp.post("/categories/<int:category_id>/move")
@permission_required("catalog.edit")
def move_category(category_id: int):
    """Move a category and its subtree under another parent."""
    category = get_or_404(Category, category_id)
    form = _move_form(category)
    form.parent_id.choices = [("", _("(root)"))] + _category_options()  # the service decides
    if not form.validate_on_submit():
        abort(400)
    parent = db.session.get(Category, int(form.parent_id.data)) if form.parent_id.data else None
    services.move_category(category, parent, actor=current_user)
    db.session.commit()
    flash(_("Category moved: %(name)s.", name=category.full_name), "success")
    return redirect(url_for(".category_list"))



# --- classification review ------------------------------------------------------------------

def review_filters() -> review.ReviewFilters:
    """Read the review list's search and state from the query string."""
    state = request.args.get("state") or None
    return review.ReviewFilters(q=(request.args.get("q") or "").strip()[:100] or None,
                                state=state if state in review.REVIEW_STATES else None)


@bp.get("/customs-review")
@permission_required("catalog.view")
def customs_review():
    """List the products whose customs data is unconfirmed or changed since confirmation."""
    filters = review_filters()
    page = review.review_page(filters, page=page_arg(),
                              per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("catalog/customs_review.html", page=page, filters=filters,
                           form=ConfirmCustomsForm(), fields=cn_customs.REVIEW_FIELDS,
                           labels=cn_customs.REVIEW_LABELS, state_labels=review.STATE_LABELS,
                           describe=review.describe_changes, format_hs=format_hs_code)


@bp.get("/customs-review/export.xlsx")
@permission_required("catalog.view")
def export_customs_review():
    """Download the review list (one row per SKU, each value with its source)."""
    return exports.respond(review.LIST_EXPORT.name, review_filters())


@bp.post("/customs-review/confirm")
@permission_required("catalog.classify")
def confirm_customs():
    """Confirm the customs data of the ticked products as it is now."""
    form = ConfirmCustomsForm()
    if not form.validate_on_submit():
        flash(_("Tick at least one product to confirm."), "error")
        return redirect(request.referrer or url_for(".customs_review"))
    confirmed = cn_customs.confirm_products(form.product_ids.data, actor=current_user)
    db.session.commit()
    flash(ngettext("Customs data of %(num)d product confirmed.",
                   "Customs data of %(num)d products confirmed.", confirmed), "success")
    return redirect(request.referrer or url_for(".customs_review"))


# --- Excel ------------------------------------------------------------------------------------

SKU_IMPORT = importing.Importer(
    name="skus", title=_l("Import SKUs"), spec=catalog_excel.SKU_SPEC,
    run=catalog_excel.import_skus, template_endpoint="catalog.sku_import_template",
    report_endpoint="catalog.sku_import_errors", back_endpoint="catalog.sku_list",
    intro=_l("One row per SKU, with its product's columns on each row. An existing SKU code "
             "updates that SKU (empty cells keep its values), a new one creates it, and a new "
             "product code creates the product. The whole file is applied, or nothing if any "
             "row has an error."))
CATEGORY_IMPORT = importing.Importer(
    name="categories", title=_l("Import categories"), spec=catalog_excel.CATEGORY_SPEC,
    run=catalog_excel.import_categories, template_endpoint="catalog.category_import_template",
    report_endpoint="catalog.category_import_errors", back_endpoint="catalog.category_list",
    intro=_l("One row per category. An existing code updates (and moves) that category, a new "
             "one creates it; a parent may come later in the file than its children. The whole "
             "file is applied, or nothing if any row has an error."))


@bp.get("/skus/export.xlsx")
@permission_required("catalog.view")
def export_skus():
    """Download the SKUs matching the list's search and filters (importable again)."""
    return xlsx_response(catalog_excel.export_skus(sku_filters_from_request()), "skus")


importing.add_import_routes(
    bp, SKU_IMPORT, rule="/skus/import", permission="catalog.edit",
    view_name="import_skus", doc="SKU workbook")


@bp.get("/categories/export.xlsx")
@permission_required("catalog.view")
def export_categories():
    """Download the category tree (importable again)."""
    return xlsx_response(catalog_excel.export_categories(), "categories")


importing.add_import_routes(
    bp, CATEGORY_IMPORT, rule="/categories/import", permission="catalog.edit",
    view_name="import_categories", doc="category workbook")
