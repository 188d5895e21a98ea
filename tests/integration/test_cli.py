"""The `flask drp` commands."""

import io

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from app.models import ApiToken, ProductLine, User


def test_users_and_tokens(app, db_session, make_distributor):
    d = make_distributor(code="CLI-D")
    runner = app.test_cli_runner()
    r = runner.invoke(args=["drp", "create-user", "cli-dist", "--role", "distributor", "--password",
                            "Cli-password-1", "--distributor", "CLI-D"])
    assert r.exit_code == 0, r.output
    user = db_session.execute(select(User).where(User.username == "cli-dist")).scalar_one()
    assert user.distributor_id == d.id
    r = runner.invoke(args=["drp", "create-user", "cli-dist", "--role", "viewer", "--password", "Cli-password-1"])
    assert r.exit_code == 1 and "cli-dist" in r.output
    r = runner.invoke(args=["drp", "create-user", "weak", "--role", "viewer", "--password", "short"])
    assert r.exit_code == 1
    r = runner.invoke(args=["drp", "create-token", "cli-dist", "ERP"])
    assert r.exit_code == 0
    secret = r.output.strip().split(": ")[-1]
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    prefix = db_session.execute(select(ApiToken.prefix).where(ApiToken.user_id == user.id)).scalar_one()
    assert runner.invoke(args=["drp", "revoke-token", prefix]).exit_code == 0
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert runner.invoke(args=["drp", "revoke-token", "nope"]).exit_code == 1


def test_import_and_export(app, db_session, tmp_path):
    wb = Workbook()
    wb.active.append(["产品线编码", "产品线名称"])
    wb.active.append(["CLI-PL", "眼科"])
    path = tmp_path / "lines.xlsx"
    wb.save(path)
    runner = app.test_cli_runner()
    r = runner.invoke(args=["drp", "import", "product_lines", str(path)])
    assert r.exit_code == 0 and "1 created" in r.output
    assert db_session.execute(select(ProductLine).where(ProductLine.code == "CLI-PL")).scalar_one().name == "眼科"
    out = tmp_path / "out.xlsx"
    assert runner.invoke(args=["drp", "export", "product_lines", str(out)]).exit_code == 0
    rows = list(load_workbook(io.BytesIO(out.read_bytes())).active.iter_rows(values_only=True))
    assert ("CLI-PL", "眼科") in rows
    bad = Workbook()
    bad.active.append(["产品线编码", "产品线名称"])
    bad.active.append(["bad code!", ""])
    bad.save(path)
    r = runner.invoke(args=["drp", "import", "product_lines", str(path)])
    assert r.exit_code == 1 and "row 2" in r.output
    assert runner.invoke(args=["drp", "import", "nope", str(path)]).exit_code == 1
