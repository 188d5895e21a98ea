"""`flask drp import-opening FILE` and `flask drp scan-near-expiry`."""

from datetime import date

from sqlalchemy import func, select

from inventory.models import StockMovement
from tests.integration.inventory.test_opening import xlsx


def test_import_opening(app, db_session, channel_world, tmp_path):
    good, bad = tmp_path / "good.xlsx", tmp_path / "bad.xlsx"
    good.write_bytes(xlsx([["MAN-WH", "CH-P1", "CLI-1", date(2026, 1, 1), date(2028, 1, 1), 25]]).getvalue())
    bad.write_bytes(xlsx([["MAN-WH", "CH-P1", "CLI-2", date(2026, 1, 1), date(2025, 1, 1), 25]]).getvalue())
    db_session.commit()  # a savepoint here: the command's rollback on failure must not take the fixture with it
    runner = app.test_cli_runner()
    before = db_session.execute(select(func.count()).select_from(StockMovement)).scalar_one()
    r = runner.invoke(args=["drp", "import-opening", str(bad)])
    assert r.exit_code == 1 and "row 2" in r.output and "2025-01-01" in r.output
    assert db_session.execute(select(func.count()).select_from(StockMovement)).scalar_one() == before
    r = runner.invoke(args=["drp", "import-opening", str(good)])
    assert r.exit_code == 0 and "1 rows, 1 new lots, 25 units" in r.output, r.output
    r = runner.invoke(args=["drp", "scan-near-expiry"])
    assert r.exit_code == 0 and "6" in r.output
