"""Transport attributes of goods and the goods a shipping service accepts.

Attributes are inherited down the category tree and overridden per SKU; a service accepts
some, each with a parcel limit.
"""

from __future__ import annotations

import pytest

from erp.catalog.models import BatteryKind
from erp.catalog.transport import Transport, effective_transport, transport_of
from erp.core.errors import ValidationError
from erp.extensions import db
from erp.shipping.services.goods import (
    goods_counts,
    goods_refusal,
    limits_of,
    refusal_for_items,
    set_goods_limits,
)


@pytest.fixture
def tree(create_category, create_product, create_sku):
    """ELEC (battery in equipment) > PHONES; a phone inheriting, a spare battery overriding."""
    elec = create_category("ELEC", "Electronics")
    elec.battery = BatteryKind.in_equipment
    phones = create_category("PHONES", "Phones", parent=elec)
    phones.magnet = True
    phone = create_sku("PHONE-1", product=create_product(category=phones))
    spare = create_sku("SPARE-1", product=create_product(category=phones))
    spare.battery, spare.battery_cells, spare.magnet = BatteryKind.alone, 2, False
    tee = create_sku("TEE-1")
    db.session.flush()
    return {"elec": elec, "phones": phones, "phone": phone, "spare": spare, "tee": tee}


def test_attributes_are_inherited_and_overridden_with_their_source(tree):
    phone = effective_transport(tree["phone"])
    assert phone["battery"].value == BatteryKind.in_equipment
    assert phone["battery"].source == "category"
    assert "ELEC" in phone["battery"].source_label
    assert phone["magnet"].value is True
    assert "PHONES" in phone["magnet"].source_label
    assert phone["liquid"].value is False
    assert phone["liquid"].source == "default"
    spare = effective_transport(tree["spare"])
    assert spare["battery"].value == BatteryKind.alone
    assert spare["battery"].source == "sku"
    assert spare["magnet"].value is False
    assert spare["magnet"].source == "sku"

    bulk = transport_of([tree["phone"].id, tree["spare"].id, tree["tee"].id])
    assert bulk[tree["phone"].id] == Transport(battery=BatteryKind.in_equipment, cells=1,
                                               magnet=True)
    assert bulk[tree["spare"].id].attributes() == ["battery_alone"]
    assert bulk[tree["spare"].id].cells == 2
    assert tree["tee"].id not in bulk  # carries nothing

    # a change on the category reaches every SKU that inherits it, none that overrides it
    tree["elec"].battery = None
    db.session.flush()
    assert transport_of([tree["phone"].id]) == {tree["phone"].id: Transport(magnet=True)}
    assert transport_of([tree["spare"].id])[tree["spare"].id].battery == BatteryKind.alone


def test_a_service_refuses_what_it_does_not_accept_and_what_exceeds_its_limit(
        tree, shipping_setup):
    post = shipping_setup["post"]
    phone, spare, tee = tree["phone"].id, tree["spare"].id, tree["tee"].id
    assert refusal_for_items(post, [(tee, 3)]) is None  # plain goods: every service
    refusal = refusal_for_items(post, [(phone, 1)])
    assert refusal == ("Registered air mail does not accept goods with battery contained in "
                       "equipment.")

    set_goods_limits(post, {"battery_in_equipment": 2, "magnet": 0}, actor=None)
    assert limits_of([post.id]) == {post.id: {"battery_in_equipment": 2, "magnet": 0}}
    assert refusal_for_items(post, [(phone, 2)]) is None
    assert refusal_for_items(post, [(phone, 3)]) == (
        "Registered air mail takes at most 2 lithium cells (battery contained in equipment) a "
        "parcel; these goods have 3.")
    # a spare battery alone stays refused; two units of two cells count four cells
    assert "battery alone" in refusal_for_items(post, [(spare, 1)])
    assert goods_counts([(spare, 2), (phone, 1)]) == {"battery_alone": 4,
                                                     "battery_in_equipment": 1, "magnet": 1}
    assert goods_refusal("X", {"magnet": 1}, {"magnet": 1}) is None
    assert goods_refusal("X", {"liquid": 2}, {"liquid": 1}) == (
        "X takes at most 1 unit with liquid a parcel; these goods have 2.")

    # replacing the list drops what is left out, and the change is audited
    set_goods_limits(post, {"magnet": 5}, actor=None)
    assert limits_of([post.id])[post.id] == {"magnet": 5}
    with pytest.raises(ValidationError, match="Unknown goods attribute"):
        set_goods_limits(post, {"plutonium": 1}, actor=None)
    with pytest.raises(ValidationError, match="whole number"):
        set_goods_limits(post, {"liquid": -1}, actor=None)
