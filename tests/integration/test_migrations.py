"""The schema comes from the migrations, and the models agree with them, on PostgreSQL and on SQLite."""

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from tests.conftest import ROOT, create_database, drop_database


def _diff(url: str):
    from app.extensions import db

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
            return compare_metadata(ctx, db.metadata)
    finally:
        engine.dispose()


def _flask(args, env_extra, tmp_path):
    import os

    env = {**os.environ, "FLASK_APP": "wsgi.py", "DRP_INSTANCE_PATH": str(tmp_path), "LOG_LEVEL": "WARNING",
           **env_extra}
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_models_match_migrations_on_postgresql(database_url, app):
    with app.app_context():
        assert _diff(database_url) == []


def test_migrations_run_from_empty_and_back_on_sqlite(tmp_path, app):
    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    r = _flask(["db", "upgrade"], {"DATABASE_URL": url}, tmp_path)
    assert r.returncode == 0, r.stderr
    with app.app_context():
        assert _diff(url) == []
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"product", "distributor", "terminal", "audit_log", "alembic_version"} <= tables
    engine.dispose()
    r = _flask(["db", "downgrade", "base"], {"DATABASE_URL": url}, tmp_path)
    assert r.returncode == 0, r.stderr
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_migrations_run_from_empty_and_back_on_postgresql(tmp_path):
    url = create_database("drp_test_migrations")
    try:
        r = _flask(["db", "upgrade"], {"DATABASE_URL": url}, tmp_path)
        assert r.returncode == 0, r.stderr
        r = _flask(["db", "downgrade", "base"], {"DATABASE_URL": url}, tmp_path)
        assert r.returncode == 0, r.stderr
        r = _flask(["db", "upgrade"], {"DATABASE_URL": url}, tmp_path)
        assert r.returncode == 0, r.stderr
    finally:
        drop_database("drp_test_migrations")


def test_every_migration_is_committed():
    versions = sorted(p.name for p in (ROOT / "migrations" / "versions").glob("*.py"))
    assert versions, "no migrations"
    tracked = subprocess.run(["git", "ls-files", "migrations/versions"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode == 0 and tracked.stdout.strip():
        assert sorted(Path(p).name for p in tracked.stdout.split()) == versions


def test_one_head(app):
    """Parallel branches must be merged: `flask db upgrade` refuses several heads."""
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config() if hasattr(app.extensions["migrate"], "migrate") \
            else Migrate().get_config(directory=str(ROOT / "migrations"))
        heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, heads
