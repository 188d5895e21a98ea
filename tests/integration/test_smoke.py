def test_home_requires_login(client):
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_admin_sees_home(login):
    c = login("admin")
    r = c.get("/")
    assert r.status_code == 200


def test_pages_name_an_icon_that_is_served(client):
    """Browsers asked for /favicon.ico on every page and got a 404 (a console error on each page)."""
    import re

    html = client.get("/login").get_data(as_text=True)
    href = re.search(r'<link rel="icon"[^>]* href="([^"]+)"', html).group(1)
    with client.get(href) as icon:
        assert icon.status_code == 200 and b"<svg" in icon.data
