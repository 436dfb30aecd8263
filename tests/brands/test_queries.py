"""Brand and specification list queries."""

from __future__ import annotations

from erp.brands import queries, services
from erp.extensions import db


def codes(stmt) -> list[str]:
    return [b.code for b in db.session.scalars(stmt)]


def test_brand_list_query_searches_code_and_name(create_brand):
    create_brand("LUMA", "Luma Home")
    create_brand("KIBO", "Kibo 100% Kids", kind="third_party", active=False)
    assert codes(queries.brand_list_query()) == ["KIBO", "LUMA"]
    assert codes(queries.brand_list_query(q="lum")) == ["LUMA"]
    assert codes(queries.brand_list_query(q="HOME")) == ["LUMA"]
    assert codes(queries.brand_list_query(q="100%")) == ["KIBO"]
    assert codes(queries.brand_list_query(q="%")) == ["KIBO"]  # a literal percent sign
    assert codes(queries.brand_list_query(kind="private")) == ["LUMA"]
    assert codes(queries.brand_list_query(active=False)) == ["KIBO"]


def test_specification_list_query_filters(create_brand, create_specification):
    luma, kibo = create_brand("LUMA"), create_brand("KIBO")
    duvet = create_specification(luma, title="Duvet cover")
    towel = create_specification(luma, title="Bath towel")
    create_specification(kibo, title="Kids tee")
    services.approve_specification_version(duvet.latest, actor=None)
    services.new_specification_version(duvet, actor=None)
    db.session.commit()

    def numbers(**filters):
        return [s.number for s in db.session.scalars(
            queries.specification_list_query(**filters))]

    assert numbers(brand_id=luma.id) == [towel.number, duvet.number]
    assert numbers(state="approved") == [duvet.number]
    assert sorted(numbers(state="draft", brand_id=luma.id)) == sorted(
        [duvet.number, towel.number])
    assert numbers(q="TOWEL") == [towel.number]
    assert numbers(q=duvet.number.lower()) == [duvet.number]
    assert queries.draft_version_count() == 3
