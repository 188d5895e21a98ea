"""The application factory."""

from __future__ import annotations

import os

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints of the shell and the four domain packages, CLI."""
    app = Flask(__name__, instance_path=os.environ.get("DRP_INSTANCE_PATH") or None, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)

    from app.config import build_config

    app.config.from_mapping(build_config(app.instance_path, dict(test_config or {})))

    from app.logging_setup import configure_logging

    configure_logging(app)

    from app import audit, tenancy  # noqa: F401  (session hooks)
    from app.api_base import api
    from app.auth.security import init_security
    from app.celery_app import celery_init_app
    from app.db_pragmas import init_sqlite_pragmas
    from app.errors import register_error_handlers
    from app.extensions import bootstrap, csrf, db, limiter, login_manager, migrate
    from app.i18n import init_i18n

    db.init_app(app)
    init_sqlite_pragmas(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    bootstrap.init_app(app)
    init_i18n(app)
    init_security(app)
    api.init_app(app)
    celery_init_app(app)
    register_error_handlers(app)

    _register_blueprints(app, api)
    _register_template_helpers(app)

    from app.cli import drp_cli

    app.cli.add_command(drp_cli)
    return app


def _register_blueprints(app: Flask, api) -> None:
    """The one explicit list of blueprints: the shell's, then each domain package's."""
    import credit
    import distribution
    import ingestion
    import inventory
    from app.auth.views import bp as auth_bp
    from app.masterdata.api import register_api
    from app.masterdata.views import bp as masterdata_bp
    from app.views import bp as core_bp

    for bp in (core_bp, auth_bp, masterdata_bp):
        app.register_blueprint(bp)
    register_api(api)
    for package in (inventory, credit, ingestion, distribution):
        package.init_app(app, api)


def _register_template_helpers(app: Flask) -> None:
    from app.templating import register

    register(app)
