"""The JSON API: OpenAPI document, authentication, error format, pagination, roles."""

from datetime import UTC, datetime, timedelta

from app.auth.services import create_token, revoke


def _product(code="API-1", **kw):
    body = {"code": code, "generic_name": "布洛芬缓释胶囊", "specification": "0.3g*20粒", "dosage_form": "胶囊剂",
            "base_unit": "盒", "pack_size": 300, "shelf_life_months": 36, "product_line_code": "APL"}
    body.update(kw)
    return body


def test_openapi_document_describes_every_resource(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v1/products", "/api/v1/products/{record_id}", "/api/v1/distributors", "/api/v1/terminals",
                 "/api/v1/regions", "/api/v1/locations", "/api/v1/target_lists", "/api/v1/me"):
        assert path in doc["paths"], path
    assert "ProductsIn" in doc["components"]["schemas"]
    assert doc["components"]["schemas"]["ProductsIn"]["properties"]["generic_name"]["x-excel-header"] == "通用名"


def test_anonymous_calls_get_401_in_the_error_format(client):
    r = client.get("/api/v1/products")
    assert r.status_code == 401
    assert r.json["error"]["code"] == "unauthorized" and r.json["error"]["message"]


def test_bearer_token_lifecycle(app, db_session, make_user):
    user = make_user("channel_manager")
    token, secret = create_token(user, "erp")
    c = app.test_client()
    h = {"Authorization": f"Bearer {secret}"}
    assert c.get("/api/v1/me", headers=h).json["username"] == user.username
    assert c.get("/api/v1/me", headers={"Authorization": "Bearer drp_nope_nope"}).status_code == 401
    assert token.token_hash != secret and secret not in token.token_hash  # only a fingerprint is stored
    token.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db_session.flush()
    assert c.get("/api/v1/me", headers=h).status_code == 401
    token.expires_at = None
    revoke(token)
    assert c.get("/api/v1/me", headers=h).status_code == 401


def test_token_of_a_deactivated_user_stops_working(app, db_session, make_user):
    user = make_user("viewer")
    _, secret = create_token(user, "bi")
    user.active = False
    db_session.flush()
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_create_validate_and_conflicts(login, make_product_line):
    make_product_line(code="APL")
    c = login("channel_manager")
    r = c.post("/api/v1/products", json=_product(pack_size=0, shelf_life_months="x"))
    assert r.status_code == 400
    fields = {d["field"] for d in r.json["error"]["details"]}
    assert {"pack_size", "shelf_life_months"} <= fields
    r = c.post("/api/v1/products", json=_product(gtin="6901234567890"))
    assert r.status_code == 422 and r.json["error"]["details"][0]["field"] == "gtin"
    r = c.post("/api/v1/products", json=_product(gtin="6901234567892"))
    assert r.status_code == 201, r.json
    assert r.json["gtin"] == "6901234567892" and r.json["product_line_code"] == "APL"
    r = c.post("/api/v1/products", json=_product())
    assert r.status_code == 422
    assert r.json["error"]["details"] == [{"field": "code", "message": "API-1 已被使用。"}] or \
        r.json["error"]["details"][0]["field"] == "code"
    r = c.post("/api/v1/products", json=_product(code="API-2", product_line_code="NOPE", unknown_field=1))
    assert r.status_code == 400


def test_patch_and_pagination(login, make_product):
    for i in range(7):
        make_product(code=f"PG-{i}")
    c = login("channel_manager")
    r = c.get("/api/v1/products?q=PG-&per_page=3&page=2&sort=code")
    assert r.status_code == 200
    assert r.json["total"] == 7 and r.json["page"] == 2
    assert [p["code"] for p in r.json["items"]] == ["PG-3", "PG-4", "PG-5"]
    pid = r.json["items"][0]["id"]
    r = c.patch(f"/api/v1/products/{pid}", json={"active": False})
    assert r.status_code == 200 and r.json["active"] is False
    assert c.get("/api/v1/products?per_page=501").status_code == 400
    assert c.get("/api/v1/products/999999").status_code == 404


def test_roles_are_enforced(login, make_product):
    p = make_product()
    viewer = login("viewer")
    assert viewer.get("/api/v1/products").status_code == 200
    assert viewer.patch(f"/api/v1/products/{p.id}", json={"active": False}).status_code == 403
    assert viewer.post("/api/v1/products", json=_product()).status_code == 403
    finance = login("finance")
    assert finance.get("/api/v1/terminals").status_code == 200
    assert finance.post("/api/v1/terminals", json={}).status_code in (400, 403)


def test_distributor_licence_flags_in_the_api(login, make_distributor):
    d = make_distributor(licence_expiry="2026-06-14")
    e = make_distributor(licence_expiry="2026-07-01")
    c = login("channel_manager")
    extra = c.get(f"/api/v1/distributors/{d.id}").json["extra"]
    assert extra["licence_status"] == "expired" and extra["can_ship"] is False
    extra = c.get(f"/api/v1/distributors/{e.id}").json["extra"]
    assert extra["licence_status"] == "expiring" and extra["can_ship"] is True


def test_api_csrf_applies_to_cookie_sessions(app, db_session, make_user):
    """A browser session (cookie) must send the CSRF token on writes; a bearer token need not."""
    from tests.conftest import PASSWORD, make_app

    user = make_user("channel_manager")
    _, secret = create_token(user, "t")
    csrf_app = make_app(app.config["SQLALCHEMY_DATABASE_URI"], __import__("pathlib").Path(app.instance_path),
                        WTF_CSRF_ENABLED=True)
    from app.extensions import db

    connection = db_session.connection()
    csrf_app.test_client_class = app.test_client_class
    with csrf_app.app_context():
        engines = db.engines
        original = engines[None]
        engines[None] = connection
        try:
            c = csrf_app.test_client()
            page = c.get("/login").get_data(as_text=True)
            token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
            assert c.post("/login", data={"username": user.username, "password": PASSWORD,
                                          "csrf_token": token}).status_code == 302
            assert c.post("/api/v1/product_lines", json={"code": "X1", "name": "x"}).status_code == 400
            assert c.post("/api/v1/product_lines", json={"code": "X1", "name": "x"},
                          headers={"X-CSRFToken": token}).status_code == 201
            assert c.post("/api/v1/product_lines", json={"code": "X2", "name": "y"},
                          headers={"Authorization": f"Bearer {secret}"}).status_code == 201
        finally:
            engines[None] = original
