"""`flask drp rebuild-rollups` and `flask drp channel-report MONTH`: coverage commands, added to the `drp` group."""

from __future__ import annotations

import click

from app.extensions import db


@click.command("rebuild-rollups")
def rebuild_rollups_cmd():
    """Recompute the coverage rollups and diversion flags from the current channel-data facts."""
    from distribution.rollups import rebuild_rollups

    result = rebuild_rollups()
    db.session.commit()
    click.echo(f"coverage rollups rebuilt: {result.presence_rows} presence rows, {result.sales_rows} sales rows, "
               f"{result.flags} diversion flags in {result.seconds:.1f} s")


@click.command("channel-report")
@click.argument("month")
def channel_report_cmd(month):
    """Generate the monthly channel report (PDF) of MONTH (2026-05) and keep it."""
    from app.cli import _fail
    from distribution.channel_reports import generate_report
    from distribution.coverage import CoverageError

    try:
        report = generate_report(month, "cli")
    except CoverageError as exc:
        _fail(exc.message)
    db.session.commit()
    click.echo(f"channel report {report.month:%Y-%m}: {report.size} bytes (id {report.id})")


COMMANDS = (rebuild_rollups_cmd, channel_report_cmd)
