"""`flask drp import-opening FILE` (and friends): inventory commands, added to the shell's `drp` group."""

from __future__ import annotations

from pathlib import Path

import click

from app.extensions import db


@click.command("import-opening")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_opening_cmd(path):
    """Import opening balances (库位编码, 产品编码, 批号, 生产日期, 有效期至, 数量) from an .xlsx; all or nothing."""
    from app.cli import _fail
    from app.masterdata.services import ImportFailed
    from inventory.opening import import_opening_balances

    with Path(path).open("rb") as fh:
        try:
            result = import_opening_balances(fh)
        except ImportFailed as exc:
            _fail("\n".join(f"row {e.row} column {e.column}: {e.message}" for e in exc.errors[:100]))
    db.session.commit()
    click.echo(f"opening balances: {result.rows} rows, {result.lots_created} new lots, {result.quantity} units")


@click.command("scan-near-expiry")
def scan_near_expiry_cmd():
    """Raise the near-expiry alerts now (the daily job does the same)."""
    from inventory.expiry import scan_near_expiry

    created = scan_near_expiry()
    db.session.commit()
    click.echo(f"near-expiry alerts created: {created}")


COMMANDS = (import_opening_cmd, scan_near_expiry_cmd)
