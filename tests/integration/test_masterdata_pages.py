"""Every master-data page and API for every role: the right roles get it, the wrong ones get 403."""

import pytest
from sqlalchemy import select

from app.masterdata.resources import RESOURCES
from app.models import Distributor, Product, StockLocation, TargetList, Terminal

ROLES = ("admin", "channel_manager", "finance", "viewer", "distributor")


@pytest.fixture
def world(db_session, make_distributor, make_product, make_product_line, make_terminal):
    from app.masterdata import services
    from app.masterdata.resources import target_lists

    pl = make_product_line(code="MPL")
    d = make_distributor(code="MD-1")
    make_product(code="MP-1", product_line=pl)
    make_terminal(code="MT-1", region_code="330106")
    services.save_record(target_lists, {"code": "MTL", "name": "杭州", "product_line_code": "MPL",
                                        "region_code": "330100", "year": 2026})
    return {"distributor": d, "pl": pl}


SAMPLES = {
    "product_lines": {"code": "NEW-PL", "name": "新产品线"},
    "products": {"code": "NEW-P", "generic_name": "二甲双胍缓释片", "specification": "0.5g*30片", "dosage_form": "片剂",
                 "base_unit": "盒", "pack_size": "120", "shelf_life_months": "36", "product_line_code": "MPL",
                 "min_shelf_days_tier1": "180", "min_shelf_days_tier2": "120", "active": "y",
                 "gtin": "6901234567892"},
    "distributors": {"code": "NEW-D", "name": "温州新药医药有限公司", "tier": "2", "parent_code": "MD-1",
                     "region_code": "330302", "licence_no": "浙AA7770001", "licence_expiry": "2029-12-31",
                     "status": "active", "contact_phone": "0577-88886666"},
    "terminals": {"code": "NEW-T", "name": "温州市人民医院", "aliases": "温州人民医院\n市人民医院", "type": "hospital",
                  "grade": "三级甲等", "region_code": "330302", "active": "y"},
    "target_lists": {"code": "NEW-TL", "name": "浙江2027", "product_line_code": "MPL", "region_code": "330000",
                     "year": "2027", "active": "y"},
    "target_list_entries": {"target_list_code": "MTL", "terminal_code": "MT-1"},
    "locations": {"code": "NEW-WH", "name": "宁波分仓", "kind": "manufacturer", "region_code": "330203", "active": "y"},
}


def _reference(model, code_attr, code):
    return select(model).where(getattr(model, code_attr) == code)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(RESOURCES))
def test_pages_by_role(login, world, name, role):
    resource = RESOURCES[name]
    c = login(role, world["distributor"] if role == "distributor" else None)
    can_read, can_write = role in resource.read_roles, role in resource.write_roles
    assert c.get(f"/{name}/").status_code == (200 if can_read else 403)
    assert c.get(f"/api/v1/{name}").status_code == (200 if can_read else 403)
    assert c.get(f"/{name}/export.xlsx").status_code == (200 if can_read else 403)
    if resource.allow_create:
        assert c.get(f"/{name}/new").status_code == (200 if can_write else 403)
        assert c.get(f"/{name}/import").status_code == (200 if can_write else 403)
        r = c.post(f"/{name}/new", data=SAMPLES[name])
        assert r.status_code == (302 if can_write else 403), r.get_data(as_text=True)[-3000:]
        if can_write:
            detail = c.get(r.headers["Location"])
            assert detail.status_code == 200
            assert c.get(r.headers["Location"] + "/edit").status_code == 200


def test_create_form_shows_field_errors_and_saves_nothing(login, world, db_session):
    c = login("channel_manager")
    bad = dict(SAMPLES["products"], pack_size="0", gtin="6901234567890", generic_name="")
    r = c.post("/products/new", data=bad)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert page.count("invalid-feedback") >= 3
    assert db_session.execute(select(Product).where(Product.code == "NEW-P")).scalar() is None


def test_terminal_aliases_and_distributor_warehouse(login, world, db_session):
    c = login("channel_manager")
    assert c.post("/terminals/new", data=SAMPLES["terminals"]).status_code == 302
    t = db_session.execute(select(Terminal).where(Terminal.code == "NEW-T")).scalar_one()
    assert sorted(t.aliases_values) == ["市人民医院", "温州人民医院"]
    dup = dict(SAMPLES["terminals"], code="NEW-T2", name="别的医院", aliases="温州人民医院")
    r = c.post("/terminals/new", data=dup)
    assert r.status_code == 422 and "NEW-T" in r.get_data(as_text=True)
    assert c.post("/distributors/new", data=SAMPLES["distributors"]).status_code == 302
    d = db_session.execute(select(Distributor).where(Distributor.code == "NEW-D")).scalar_one()
    assert d.parent.code == "MD-1"
    wh = db_session.execute(select(StockLocation).where(StockLocation.distributor_id == d.id)).scalar_one()
    assert wh.kind == "distributor" and wh.code == "WH-NEW-D"


def test_list_search_filter_sort_and_pagination(login, world, make_product):
    for i in range(60):
        make_product(code=f"LS-{i:02d}", product_line=world["pl"], cold_chain=i % 2 == 0)
    c = login("viewer")
    page = c.get("/products/?q=LS-&cold_chain=1&sort=-code").get_data(as_text=True)
    assert "LS-58" in page and "LS-59" not in page
    assert page.index("LS-58") < page.index("LS-56")
    page2 = c.get("/products/?q=LS-&page=2&sort=code").get_data(as_text=True)
    assert "LS-50" in page2 and "LS-10" not in page2


def test_region_lookup_and_target_list_detail(login, world, db_session):
    c = login("channel_manager")
    items = c.get("/regions/lookup?q=西湖").json["items"]
    assert any(i["code"] == "330106" and i["label"] == "330106 浙江省杭州市西湖区" for i in items)
    for name, q in (("products", "MP-1"), ("distributors", "MD-1"), ("terminals", "MT-1"), ("product_lines", "MPL")):
        found = c.get(f"/{name}/lookup?q={q}").json["items"]
        assert found and found[0]["code"] == q and len(found[0]["label"]) > len(q) + 1, (name, found)
    tl = db_session.execute(select(TargetList).where(TargetList.code == "MTL")).scalar_one()
    assert c.get(f"/target_lists/{tl.id}").status_code == 200


def test_entry_delete(login, world, db_session):
    c = login("channel_manager")
    r = c.post("/target_list_entries/new", data=SAMPLES["target_list_entries"])
    entry_url = r.headers["Location"]
    assert login("viewer").post(entry_url + "/delete").status_code == 403
    assert c.post(entry_url + "/delete").status_code == 302
    assert c.get(entry_url).status_code == 404
