"""Test fixtures.

The schema is built once per session by running the migrations on a fresh PostgreSQL database; each test runs
inside a transaction that is rolled back (views' commits become savepoints). PostgreSQL and Redis are required:
the run fails, never skips, when they are missing.

TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432) names the server; TEST_REDIS_URL
(default redis://127.0.0.1:6379/15) the Redis.
"""

from __future__ import annotations

import contextvars
import itertools
import os
from datetime import date
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
REGIONS_DIR = ROOT.parent / "shared" / "data" / "regions"
PG_SERVER = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TODAY = date(2026, 6, 15)
PASSWORD = "Test-password-1"


def _pg_url(dbname: str) -> str:
    url = make_url(PG_SERVER.replace("postgresql://", "postgresql+psycopg://", 1))
    return url.set(database=dbname).render_as_string(hide_password=False)


def _require_services() -> None:
    problems = []
    try:
        engine = create_engine(_pg_url("postgres"), connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"PostgreSQL at {PG_SERVER} is not reachable: {exc.__class__.__name__}: {exc}")
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"Redis at {REDIS_URL} is not reachable: {exc.__class__.__name__}: {exc}")
    if problems:
        pytest.exit("The test suite needs PostgreSQL and Redis:\n" + "\n".join(problems), returncode=3)


def _own(name: str) -> str:
    """Database names carry the process id, so concurrent runs on one server (several checkouts) never collide."""
    suffix = f"_{os.getpid()}"
    return name if name.endswith(suffix) else name + suffix


def create_database(name: str) -> str:
    """(Re)create an empty PostgreSQL database (named ``name`` + this process's id) and return its URL."""
    name = _own(name)
    engine = create_engine(_pg_url("postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return _pg_url(name)


def drop_database(name: str) -> None:
    name = _own(name)
    engine = create_engine(_pg_url("postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def make_app(database_url: str, tmp_path: Path, **overrides):
    from app import create_app

    os.environ["DRP_INSTANCE_PATH"] = str(tmp_path)
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast in tests; production uses scrypt
        "RATELIMIT_ENABLED": False,
        "FIXED_TODAY": TODAY,
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "test",
        "CELERY": {"task_always_eager": True, "task_eager_propagates": True},
    }
    config.update(overrides)
    app = create_app(config)
    _APPS.append(app)
    return app


_APPS: list = []


@pytest.fixture(scope="session", autouse=True)
def _dispose_engines():
    """Close every pooled connection of every app the tests built, so none is left for the garbage collector."""
    yield
    from app.extensions import db

    for app in _APPS:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    _require_services()
    name = f"drp_test_{os.getpid()}"
    url = create_database(name)
    app = make_app(url, tmp_path_factory.mktemp("instance"))
    with app.app_context():
        from flask_migrate import upgrade

        from app.extensions import db
        from app.masterdata.regions import import_regions

        upgrade()
        import_regions(REGIONS_DIR)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    yield url
    drop_database(name)


class IsolatedClient(FlaskClient):
    """Each request runs in a fresh context, as in production: its own app context, ``g``, session and actor
    (the test's own app context stays pushed for its fixtures, and Flask would otherwise reuse it)."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = make_app(database_url, tmp_path_factory.mktemp("app"))
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def db_session(app):
    """A session on one connection whose outer transaction is rolled back after the test.

    Flask-SQLAlchemy's Session picks its bind from ``db.engines``, so the connection is put there; views'
    commits then release savepoints inside the outer transaction.
    """
    from app.extensions import db

    with app.app_context():
        engines = db.engines
        engine = engines[None]
        connection = engine.connect()
        outer = connection.begin()
        engines[None] = connection
        original = db.session
        db.session = db._make_scoped_session({"join_transaction_mode": "create_savepoint"})
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original
            engines[None] = engine
            outer.rollback()
            connection.close()


# -- factories (fixtures returning callables) ---------------------------------------------------------------------
_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


@pytest.fixture
def region(db_session):
    """Look a real GB/T 2260 region up by its 6-digit code."""
    from sqlalchemy import select

    from app.models import Region

    def get(code: str) -> Region:
        return db_session.execute(select(Region).where(Region.code == code)).scalar_one()

    return get


@pytest.fixture
def make_product_line(db_session):
    from app.models import ProductLine

    def make(**kw):
        n = _n()
        pl = ProductLine(code=kw.pop("code", f"PL{n}"), name=kw.pop("name", f"产品线{n}"), **kw)
        db_session.add(pl)
        db_session.flush()
        return pl

    return make


@pytest.fixture
def make_product(db_session, make_product_line):
    from app.models import Product

    def make(**kw):
        n = _n()
        kw.setdefault("product_line", kw.get("product_line") or make_product_line())
        p = Product(code=kw.pop("code", f"P{n:05d}"), generic_name=kw.pop("generic_name", f"测试药品{n}"),
                    specification=kw.pop("specification", "10mg*24片"), dosage_form=kw.pop("dosage_form", "片剂"),
                    base_unit=kw.pop("base_unit", "盒"), pack_size=kw.pop("pack_size", 100),
                    shelf_life_months=kw.pop("shelf_life_months", 36), **kw)
        db_session.add(p)
        db_session.flush()
        return p

    return make


@pytest.fixture
def make_distributor(db_session, region):
    from app.masterdata import services
    from app.masterdata.resources import distributors

    def make(**kw):
        n = _n()
        raw = {"code": f"D{n:04d}", "name": f"测试医药有限公司{n}", "tier": 1, "region_code": "330100",
               "licence_no": f"浙AA{n:07d}", "licence_expiry": "2030-12-31"}
        raw.update(kw)
        return services.save_record(distributors, raw)

    return make


@pytest.fixture
def make_terminal(db_session):
    from sqlalchemy import select

    from app.models import Region, Terminal

    def make(**kw):
        n = _n()
        region_code = kw.pop("region_code", "330106")
        reg = db_session.execute(select(Region).where(Region.code == region_code)).scalar_one()
        t = Terminal(code=kw.pop("code", f"T{n:05d}"), name=kw.pop("name", f"测试医院{n}"),
                     type=kw.pop("type", "hospital"), grade=kw.pop("grade", "三级甲等"), region=reg, **kw)
        db_session.add(t)
        db_session.flush()
        return t

    return make


@pytest.fixture
def make_user(db_session):
    from app.auth.services import create_user

    def make(role="admin", distributor=None, **kw):
        n = _n()
        return create_user(kw.pop("username", f"{role}{n}"), kw.pop("password", PASSWORD), role,
                           distributor_code=distributor.code if distributor is not None else None, **kw)

    return make


@pytest.fixture
def client(app, db_session):
    return app.test_client()


@pytest.fixture
def login(app, db_session, make_user):
    """login(role or user, distributor=None) -> a test client logged in as that user (a new one per call)."""

    def do(role_or_user="admin", distributor=None):
        user = make_user(role_or_user, distributor) if isinstance(role_or_user, str) else role_or_user
        c = app.test_client()
        r = c.post("/login", data={"username": user.username, "password": PASSWORD})
        assert r.status_code == 302, r.data[:500]
        c.user = user
        return c

    return do
