"""Navigation by role: menus hold only what the user may open."""

from erp.core.web import nav_groups


def test_nav_groups_puts_domains_in_menus_and_single_entries_as_links():
    groups = nav_groups(
        [("Home", "core.home", "/"), ("SKUs", "catalog.sku_list", "/catalog/skus"),
         ("Brands", "brands.brand_list", "/brands/"),
         ("Stock", "warehouse.stock_list", "/warehouse/stock")],
        [("Users", "core.user_list", "/admin/users")])
    assert [menu for menu, _ in groups] == ["", "Catalog", "", ""]
    assert [label for label, _, _ in groups[1][1]] == ["SKUs", "Brands"]
    assert groups[2][1][0][0] == "Stock"
    assert groups[3][1] == [("Users", "core.user_list", "/admin/users")]


def test_customer_service_menu_has_no_admin_or_purchasing(client, login_as):
    login_as("customer_service")
    page = client.get("/").get_data(as_text=True)
    assert "/admin/users" not in page
    assert "Purchasing" not in page
    assert "/catalog/skus" in page
