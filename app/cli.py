"""`flask drp ...`: users and tokens, imports and exports, demo data, maintenance."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db

drp_cli = AppGroup("drp", help="DRP administration: users, tokens, imports, demo data.")


def _fail(message: str) -> None:
    db.session.rollback()
    click.secho(message, fg="red", err=True)
    sys.exit(1)


@drp_cli.command("create-user")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["admin", "channel_manager", "finance", "distributor",
                                                          "viewer"]))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--distributor", "distributor_code", help="distributor code (distributor users only)")
@click.option("--name", "display_name")
def create_user(username, role, password, distributor_code, display_name):
    """Create a user."""
    from app.auth.services import UserError
    from app.auth.services import create_user as create

    try:
        user = create(username, password, role, display_name, distributor_code)
    except UserError as exc:
        _fail(str(exc))
    db.session.commit()
    click.echo(f"created user {user.username} ({user.role})")


@drp_cli.command("create-token")
@click.argument("username")
@click.argument("name")
def create_token(username, name):
    """Issue an API token for USERNAME; prints the secret once."""
    from app.auth.services import UserError, find_user
    from app.auth.services import create_token as issue

    user = find_user(username)
    if user is None:
        _fail(f"no user {username}")
    try:
        token, secret = issue(user, name)
    except UserError as exc:
        _fail(str(exc))
    db.session.commit()
    click.echo(f"token {token.prefix} for {user.username}: {secret}")


@drp_cli.command("revoke-token")
@click.argument("prefix")
def revoke_token(prefix):
    """Revoke the API token(s) whose prefix is PREFIX."""
    from app.auth.services import revoke
    from app.models import ApiToken

    tokens = db.session.execute(select(ApiToken).where(ApiToken.prefix == prefix)).scalars().all()
    if not tokens:
        _fail(f"no token with prefix {prefix}")
    for t in tokens:
        revoke(t)
    db.session.commit()
    click.echo(f"revoked {len(tokens)} token(s)")


@drp_cli.command("import-regions")
@click.argument("directory", required=False)
def import_regions_cmd(directory):
    """Load GB/T 2260 regions from provinces.csv, cities.csv, areas.csv in DIRECTORY (default: REGIONS_DIR)."""
    from app.masterdata.regions import RegionImportError, import_regions

    directory = directory or current_app.config["REGIONS_DIR"]
    try:
        result = import_regions(directory)
    except RegionImportError as exc:
        _fail("\n".join(exc.errors[:50]))
    db.session.commit()
    click.echo(f"regions: {result.created} created, {result.updated} updated; by level {result.by_level}")


@drp_cli.command("import")
@click.argument("resource")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_cmd(resource, path):
    """Import RESOURCE (products, distributors, terminals, ...) from an .xlsx; all or nothing."""
    from app.masterdata import services
    from app.masterdata.resources import RESOURCES

    if resource not in RESOURCES:
        _fail(f"unknown resource {resource}; one of {', '.join(RESOURCES)}")
    with Path(path).open("rb") as fh:
        try:
            result = services.import_workbook(RESOURCES[resource], fh)
        except services.ImportFailed as exc:
            _fail("\n".join(f"row {e.row} column {e.column}: {e.message}" for e in exc.errors[:100]))
    db.session.commit()
    click.echo(f"{resource}: {result.rows} rows, {result.created} created, {result.updated} updated")


@drp_cli.command("export")
@click.argument("resource")
@click.argument("path", type=click.Path(dir_okay=False))
def export_cmd(resource, path):
    """Export RESOURCE to an .xlsx at PATH."""
    from app.masterdata import services
    from app.masterdata.resources import RESOURCES

    if resource not in RESOURCES:
        _fail(f"unknown resource {resource}; one of {', '.join(RESOURCES)}")
    rows = db.session.execute(services.list_query(RESOURCES[resource])).scalars().all()
    Path(path).write_bytes(services.export_workbook(RESOURCES[resource], rows))
    click.echo(f"wrote {len(rows)} {resource} to {path}")


@drp_cli.command("seed-demo")
@click.option("--regions", "regions_dir", help="directory of the region CSVs (default: REGIONS_DIR)")
@click.option("--seed", default=20261122, show_default=True, help="random seed (the same seed gives the same data)")
def seed_demo(regions_dir, seed):
    """Load regions (if needed) and a believable demo channel, and create one user per role."""
    from app.demo import seed_demo as seed_fn

    summary = seed_fn(regions_dir or current_app.config["REGIONS_DIR"], seed=seed)
    db.session.commit()
    click.echo(summary)
