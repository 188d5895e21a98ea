"""Internationalisation: Simplified Chinese first, English second.

* Every English source string (``_()``, ``gettext``, ``lazy_gettext as _l`` in the application packages, ``_()`` in
  templates) has a non-empty, non-fuzzy Chinese translation whose placeholders match. The strings are extracted
  afresh at test time with the same ``babel.cfg`` as ``scripts/i18n.sh``, so a new untranslated string fails here
  by name: run ``./scripts/i18n.sh``, translate it in app/translations/zh/LC_MESSAGES/messages.po, run it again.
* Pages render in Chinese by default and in English after ``/lang/en``, and the choice is kept on the user.

The compiled catalog (.mo) is git-ignored and built by ``make translations``; this module compiles it in place when
it is missing or older than the .po, so these tests (and the rest of the suite) see translated pages without make.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "app" / "translations"
PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
# The same keywords and exclusions as scripts/i18n.sh.
KEYWORDS = ["-k", "_l", "-k", "lazy_gettext", "-k", "lazy_ngettext:1,2", "-k", "lazy_pgettext:1c,2"]
IGNORE_DIRS = ".* ._ __pycache__ tests migrations node_modules"
# A Python %-format conversion: %(name)s, %(n)d, %s, %.2f ... ("%%" is a literal percent sign).
PLACEHOLDER = re.compile(r"%(?:\((?P<name>[^)]*)\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?P<conv>[diouxXeEfFgGcrsa%])")


def compile_catalog(po: Path = PO, mo: Path = MO) -> None:
    """Compile ``po`` into ``mo`` when the .mo is missing or older than the .po (atomically)."""
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return
    with po.open("rb") as fh:
        catalog = read_po(fh)
    tmp = mo.with_name(f".{mo.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        write_mo(fh, catalog, use_fuzzy=True)
    os.replace(tmp, mo)


# At import (collection) time, before any test renders a page and Flask-Babel caches the catalog it found.
compile_catalog()


def placeholders(text: str) -> Counter:
    return Counter((m["name"], m["conv"]) for m in PLACEHOLDER.finditer(text) if m["conv"] != "%")


def _forms(value) -> tuple:
    return value if isinstance(value, (tuple, list)) else (value,)


def _where(message) -> str:
    return ", ".join(f"{path}:{line}" for path, line in message.locations[:3]) or "?"


def catalog_problems(pot: Path, po: Path) -> list[str]:
    """Every extracted message that lacks a usable translation in ``po``, one readable line each."""
    with pot.open("rb") as fh:
        template = read_po(fh)
    with po.open("rb") as fh:
        catalog = read_po(fh)
    problems = []
    for source in template:
        if not source.id:
            continue
        label = f"{_forms(source.id)[0]!r} ({_where(source)})"
        entry = catalog.get(source.id, source.context)
        if entry is None:
            problems.append(f"not in the zh catalog (run ./scripts/i18n.sh, then translate it): {label}")
            continue
        if entry.fuzzy:
            problems.append(f"fuzzy translation (check it, remove the fuzzy flag): {label}")
        strings = _forms(entry.string)
        if not all(s and s.strip() for s in strings):
            problems.append(f"untranslated: {label}")
            continue
        ids = _forms(source.id)
        for i, translated in enumerate(strings):
            # The first form answers the singular msgid; zh's single form (and any further one) the plural msgid.
            expected = placeholders(ids[0] if i == 0 and len(strings) > 1 else ids[-1])
            if placeholders(translated) != expected:
                problems.append(f"placeholders differ ({sorted(expected.elements())} vs "
                                f"{sorted(placeholders(translated).elements())}): {label} -> {translated!r}")
    return problems


def extract(target: Path, cwd: Path = ROOT, mapping: Path | None = None) -> Path:
    """Run ``pybabel extract`` exactly as scripts/i18n.sh does, writing the template to ``target``."""
    cmd = [sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", str(mapping or ROOT / "babel.cfg"),
           *KEYWORDS, "--ignore-dirs", IGNORE_DIRS, "-o", str(target), "."]
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"pybabel extract failed:\n{result.stdout}\n{result.stderr}"
    return target


@pytest.fixture(scope="module")
def extracted_pot(tmp_path_factory) -> Path:
    return extract(tmp_path_factory.mktemp("i18n") / "messages.pot")


# -- the catalog ------------------------------------------------------------------------------------------------------
def test_every_source_string_has_a_chinese_translation(extracted_pot):
    with extracted_pot.open("rb") as fh:
        count = sum(1 for m in read_po(fh) if m.id)
    assert count > 100, "extraction found suspiciously few strings: is babel.cfg still mapping the packages?"
    problems = catalog_problems(extracted_pot, PO)
    assert not problems, f"{len(problems)} strings need a translator:\n" + "\n".join(problems)


def test_extraction_covers_python_and_templates(extracted_pot):
    with extracted_pot.open("rb") as fh:
        files = {path.split("/")[0] + ("/templates" if "/templates/" in path else "")
                 for m in read_po(fh) for path, _ in m.locations}
    assert {"app", "app/templates"} <= files
    assert not any(f.startswith((".venv", "tests", "migrations")) for f in files)


def test_catalog_has_no_fuzzy_entries_and_one_plural_form():
    with PO.open("rb") as fh:
        catalog = read_po(fh)
    assert str(catalog.locale) == "zh"
    assert catalog.plural_forms == "nplurals=1; plural=0;"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy entries left in {PO.relative_to(ROOT)}: {fuzzy}"


def test_a_new_untranslated_string_is_reported_by_name(tmp_path):
    pkg = tmp_path / "app"
    (pkg / "templates").mkdir(parents=True)
    (pkg / "views.py").write_text(
        "from flask_babel import gettext as _\nfrom flask_babel import lazy_gettext as _l\n"
        "A = _l('Products')\nB = _('Rebate for %(name)s', name='x')\n", encoding="utf-8")
    (pkg / "templates" / "page.html").write_text("{{ _('Log out') }} {{ _('Days of inventory') }}", encoding="utf-8")
    po = tmp_path / "messages.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "Products"\nmsgstr "产品"\n\n'
                  'msgid "Log out"\nmsgstr "退出登录"\n\n'
                  '#, fuzzy\nmsgid "Days of inventory"\nmsgstr "库存天数"\n\n'
                  'msgid "Rebate for %(name)s"\nmsgstr "返利"\n', encoding="utf-8")
    problems = catalog_problems(extract(tmp_path / "messages.pot", cwd=tmp_path), po)
    assert len(problems) == 2, problems
    assert any("fuzzy" in p and "'Days of inventory'" in p and "page.html" in p for p in problems)
    assert any("placeholders differ" in p and "'Rebate for %(name)s'" in p for p in problems)

    po.write_text(po.read_text(encoding="utf-8").replace('msgid "Log out"\nmsgstr "退出登录"\n', ""), encoding="utf-8")
    problems = catalog_problems(extract(tmp_path / "messages.pot", cwd=tmp_path), po)
    assert any("not in the zh catalog" in p and "'Log out'" in p for p in problems)


def test_placeholders_are_compared_by_name_and_conversion():
    assert placeholders("%(n)d records") == placeholders("共 %(n)d 条记录")
    assert placeholders("%(n)d records") != placeholders("共 %(n)s 条记录")
    assert placeholders("%(a)s and %(b)s") == placeholders("%(b)s 与 %(a)s")
    assert placeholders("100%% sure") == Counter()


def test_compiled_catalog_is_current():
    assert MO.exists() and MO.stat().st_mtime >= PO.stat().st_mtime


# -- the pages --------------------------------------------------------------------------------------------------------
def _text(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def test_pages_are_chinese_by_default(login):
    client = login("admin")
    home = _text(client, "/")
    assert '<html lang="zh-CN">' in home
    for word in ("产品", "经销商", "终端", "退出登录", "首页"):
        assert word in home, word
    assert "Log out" not in home
    products = _text(client, "/products/")
    for word in ("产品", "通用名", "规格", "冷链", "导出 Excel", "退出登录"):
        assert word in products, word
    assert "Generic name" not in products and "Log out" not in products


def test_switching_to_english_sticks_to_the_user(login, db_session):
    from app.models import User

    client = login("channel_manager")
    response = client.get("/lang/en?next=/products/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/products/")
    products = _text(client, "/products/")
    assert '<html lang="en">' in products
    for word in ("Products", "Generic name", "Specification", "Log out"):
        assert word in products, word
    assert "退出登录" not in products and "通用名" not in products
    home = _text(client, "/")
    assert "Products" in home and "Log out" in home

    db_session.expire_all()
    assert db_session.get(User, client.user.id).locale == "en"

    # A new session for the same user (another browser) starts in English; switching back is kept too.
    other = login(client.user)
    assert "Log out" in _text(other, "/products/")
    assert other.get("/lang/zh").status_code == 302
    assert "退出登录" in _text(other, "/")
    db_session.expire_all()
    assert db_session.get(User, client.user.id).locale == "zh"


def test_login_page_is_chinese_for_anonymous_visitors(client):
    page = _text(client, "/login")
    assert "登录" in page and "用户名" in page and "密码" in page


def test_roles_and_change_history_are_shown_as_labels(login, make_user, make_distributor, db_session):
    from app.masterdata import services
    from app.masterdata.resources import distributors

    admin = login("admin")
    make_user("channel_manager")
    users = _text(admin, "/admin/users/")
    assert "渠道经理" in users and "系统管理员" in users and "<td>channel_manager</td>" not in users

    distributor = make_distributor()
    services.save_record(distributors, {"contact_name": "张经理"}, distributor, partial=True)
    db_session.flush()
    history = _text(admin, f"/distributors/{distributor.id}").split('id="history"', 1)[1]
    assert "<td>新建</td>" in history and "<td>编辑</td>" in history
    assert "联系人: 张经理" in history and "contact_name" not in history
