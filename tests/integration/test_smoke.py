def test_home_requires_login(client):
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_admin_sees_home(login):
    c = login("admin")
    r = c.get("/")
    assert r.status_code == 200
