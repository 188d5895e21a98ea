"""Logins, passwords, rate limiting, CSRF on every form, roles, users and tokens administration."""

import pytest
from sqlalchemy import select

from app.auth import services
from app.models import ApiToken, User
from tests.conftest import PASSWORD, make_app


def test_passwords_are_hashed_with_scrypt_by_default(app, db_session):
    from app.auth.security import PASSWORD_METHOD

    assert PASSWORD_METHOD == "scrypt"
    production = make_app(app.config["SQLALCHEMY_DATABASE_URI"], __import__("pathlib").Path(app.instance_path))
    production.config.pop("PASSWORD_HASH_METHOD")
    with production.app_context():
        from app.auth.security import hash_password

        h = hash_password("Str0ng-enough-pw")
    assert h.startswith("scrypt:") and "Str0ng" not in h


@pytest.mark.parametrize("password", ["short1", "onlyletterslong", "1234567890123"])
def test_password_policy(db_session, password):
    with pytest.raises(services.UserError):
        services.create_user("weak", password, "viewer")


def test_distributor_users_are_bound_to_one_distributor(db_session, make_distributor):
    with pytest.raises(services.UserError):
        services.create_user("d1", PASSWORD, "distributor")
    with pytest.raises(services.UserError):
        services.create_user("d2", PASSWORD, "finance", distributor_code=make_distributor().code)
    with pytest.raises(services.UserError):
        services.create_user("d3", PASSWORD, "distributor", distributor_code="NOPE")


def test_login_logout_and_inactive_users(client, db_session, make_user):
    u = make_user("viewer")
    assert client.post("/login", data={"username": u.username.upper(), "password": "bad-password-1"}).status_code == 401
    r = client.post("/login?next=/products/", data={"username": u.username.upper(), "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"] == "/products/"
    assert client.get("/").status_code == 200
    client.post("/logout")
    assert client.get("/").status_code == 302
    db_session.execute(select(User).where(User.id == u.id)).scalar_one().active = False
    db_session.flush()
    assert client.post("/login", data={"username": u.username, "password": PASSWORD}).status_code == 401


def test_open_redirects_are_refused(client, make_user):
    u = make_user("viewer")
    r = client.post("/login?next=//evil.example/x", data={"username": u.username, "password": PASSWORD})
    assert r.headers["Location"] == "/"


def test_login_is_rate_limited(app, db_session, make_user):
    u = make_user("viewer")
    limited = make_app(app.config["SQLALCHEMY_DATABASE_URI"], __import__("pathlib").Path(app.instance_path),
                       RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://", LOGIN_RATE_LIMIT="5 per minute")
    limited.test_client_class = app.test_client_class
    from app.extensions import db

    connection = db_session.connection()
    with limited.app_context():
        engines = db.engines
        original, engines[None] = engines[None], connection
        try:
            c = limited.test_client()
            codes = [c.post("/login", data={"username": u.username, "password": "wrong-password-9"}).status_code
                     for _ in range(6)]
            assert codes == [401] * 5 + [429]
            # even the right password is refused while limited, with a message
            r = c.post("/login", data={"username": u.username, "password": PASSWORD})
            assert r.status_code == 429 and "error-message" in r.get_data(as_text=True)
        finally:
            engines[None] = original


def test_every_form_requires_a_csrf_token(app, db_session, make_user):
    """With CSRF on (as in production), every POST / PATCH / DELETE route refuses a request without the token."""
    u = make_user("admin")
    guarded = make_app(app.config["SQLALCHEMY_DATABASE_URI"], __import__("pathlib").Path(app.instance_path),
                       WTF_CSRF_ENABLED=True)
    guarded.test_client_class = app.test_client_class
    from app.extensions import db

    connection = db_session.connection()
    with guarded.app_context():
        engines = db.engines
        original, engines[None] = engines[None], connection
        try:
            c = guarded.test_client()
            page = c.get("/login").get_data(as_text=True)
            token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
            assert c.post("/login", data={"username": u.username, "password": PASSWORD}).status_code == 400
            assert c.post("/login", data={"username": u.username, "password": PASSWORD,
                                          "csrf_token": token}).status_code == 302
            checked = 0
            for rule in guarded.url_map.iter_rules():
                methods = rule.methods & {"POST", "PUT", "PATCH", "DELETE"}
                if not methods or rule.endpoint in ("static",):
                    continue
                values = {a: ("products" if a == "name" else "en" if a == "code" else 1) for a in rule.arguments}
                if "any(" in rule.rule and "products" not in rule.rule:
                    continue
                with guarded.test_request_context():
                    from flask import url_for

                    url = url_for(rule.endpoint, **values)
                for m in methods:
                    r = c.open(url, method=m, data={"x": "1"})
                    assert r.status_code == 400, (m, url, r.status_code)
                    checked += 1
            assert checked >= 10
        finally:
            engines[None] = original


def test_roles_see_their_navigation_and_are_refused_elsewhere(login, make_distributor):
    d = make_distributor()
    viewer = login("viewer")
    assert viewer.get("/admin/users/").status_code == 403
    assert viewer.get("/products/new").status_code == 403
    assert viewer.get("/terminals/").status_code == 200
    dist = login("distributor", d)
    page = dist.get("/").get_data(as_text=True)
    assert "/terminals/" not in page and "/admin/users/" not in page
    assert dist.get("/terminals/").status_code == 403
    assert dist.get("/target_lists/").status_code == 403
    assert dist.get("/products/").status_code == 200
    admin = login("admin")
    assert "/admin/users/" in admin.get("/").get_data(as_text=True)


def test_admin_manages_users_and_tokens(login, db_session, make_distributor):
    d = make_distributor()
    admin = login("admin")
    r = admin.post("/admin/users/new", data={"username": "erp-link", "display_name": "ERP", "role": "distributor",
                                             "distributor_code": d.code, "password": "Erp-password-1",
                                             "active": "y"})
    assert r.status_code == 302
    user = db_session.execute(select(User).where(User.username == "erp-link")).scalar_one()
    assert user.distributor_id == d.id
    r = admin.post(f"/admin/users/{user.id}/tokens", data={"name": "金蝶接口"})
    page = r.get_data(as_text=True)
    secret = page.split('id="token-secret">')[1].split("<")[0]
    assert secret.startswith("drp_")
    token = db_session.execute(select(ApiToken).where(ApiToken.user_id == user.id)).scalar_one()
    assert secret not in admin.get(f"/admin/users/{user.id}").get_data(as_text=True)  # shown once only
    api = admin.application.test_client()
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    admin.post(f"/admin/tokens/{token.id}/revoke")
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_change_own_password(login, db_session):
    c = login("finance")
    r = c.post("/account/password", data={"old_password": "nope-nope-1", "new_password": "New-password-22"})
    assert r.status_code == 200
    r = c.post("/account/password", data={"old_password": PASSWORD, "new_password": "New-password-22"})
    assert r.status_code == 302
    db_session.expire_all()
    assert services.authenticate(c.user.username, "New-password-22") is not None


def test_a_token_is_one_lookup_and_its_last_use_is_written_at_most_once_a_minute(app, db_session, make_user):
    from datetime import timedelta

    from sqlalchemy import event

    from app.auth.security import user_for_token
    from app.models import utcnow

    d_user = make_user("viewer")
    token, secret = services.create_token(d_user, "ERP")
    statements = []
    engine = db_session.get_bind()

    def count(conn, cursor, statement, *args):
        statements.append(statement.split()[0])

    event.listen(engine, "before_cursor_execute", count)
    try:
        with app.test_request_context("/api/v1/me"):
            assert user_for_token(secret) is d_user
            assert statements == ["SELECT", "UPDATE"]  # never used before: recorded
            statements.clear()
            assert user_for_token(secret) is d_user
            assert statements == ["SELECT"]  # used a moment ago: nothing written
            token.last_used_at = utcnow() - timedelta(minutes=2)
            db_session.flush()
            statements.clear()
            assert user_for_token(secret) is d_user
            assert statements == ["SELECT", "UPDATE"]
    finally:
        event.remove(engine, "before_cursor_execute", count)
