"""Helpers shared by the browser tests: the expected UI text, logging in, building Excel files, screenshots."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

from tests.conftest import PASSWORD, ROOT

PO_FILE = ROOT / "app" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
CJK = re.compile(r"[\u4e00-\u9fff]")


# msgid -> Chinese text, as compiled for this run (filled by compile_translations)
ZH: dict[str, str] = {}


def compile_translations(target: Path) -> Path | None:
    """Compile the Chinese catalog (if there is one) into ``target``/zh/LC_MESSAGES; return the directory.

    The same catalog is kept in ``ZH``, so the tests expect exactly the text the server will show.
    """
    if not PO_FILE.exists():
        return None
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    out = target / "zh" / "LC_MESSAGES"
    out.mkdir(parents=True, exist_ok=True)
    with PO_FILE.open("rb") as fh:
        catalog = read_po(fh, locale="zh")
    with (out / "messages.mo").open("wb") as fh:
        write_mo(fh, catalog, use_fuzzy=True)  # as `make translations` does
    ZH.clear()
    ZH.update({m.id: m.string for m in catalog if isinstance(m.id, str) and m.id and isinstance(m.string, str)
               and m.string})
    return target


def zh(msgid: str, **params) -> str:
    """What the Chinese UI shows for ``msgid`` (the English text where no translation exists yet)."""
    text = ZH.get(msgid, msgid)
    return text % params if params else text


def en(msgid: str, **params) -> str:
    return msgid % params if params else msgid


def login(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#login-submit")
    assert page.url == f"{base_url}/", f"login as {username} ended on {page.url}"


def total_records(page) -> int:
    """The record count a list page shows in its heading."""
    return int(re.search(r"\d+", page.inner_text("#total")).group())


def column_texts(page, column: int = 0) -> list[str]:
    return [t.strip() for t in page.locator(f"#records tbody tr td:nth-child({column + 1})").all_inner_texts()]


def xlsx_bytes(header: list[str], rows: list[list]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def gtin13(body12: str) -> str:
    """A GTIN-13 with its GS1 check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body12)))
    return body12 + str((10 - total % 10) % 10)


def snap(page, name: str) -> None:
    """A screenshot to /tmp/e2e-<name>.png when E2E_SCREENSHOTS is set (for looking at the pages by eye)."""
    if os.environ.get("E2E_SCREENSHOTS"):
        page.screenshot(path=f"/tmp/e2e-{name}.png", full_page=True)


def open_nav(page, label: str):
    """Click the navigation entry ``label``: a top-level link, or an entry of a menu group (opened first; on a phone
    the collapsed navigation is opened too). Returns the link."""
    nav = page.locator("#nav")
    if not nav.is_visible():
        page.locator(".navbar-toggler").click()
        page.wait_for_selector("#nav.show", state="visible")
    link = nav.get_by_role("link", name=label, exact=True, include_hidden=True)
    if not link.is_visible():
        inner = page.get_by_role("link", name=label, exact=True, include_hidden=True)  # relative to each group
        group = nav.locator(".dropdown").filter(has=inner)
        group.locator(".dropdown-toggle").click()
        link.wait_for(state="visible")
    with page.expect_navigation():
        link.click()
    return link
