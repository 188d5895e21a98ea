"""Configuration from environment variables, with embedded defaults.

With nothing set the system runs on a SQLite file under ``instance/`` and a filesystem-backed Celery broker
(no Redis needed); set ``DATABASE_URL`` and ``REDIS_URL`` for PostgreSQL and Redis.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent


def _normalise_db_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def build_config(instance_path: str, overrides: dict | None = None) -> dict:
    """Return the configuration mapping for one application instance."""
    env = os.environ
    instance = Path(instance_path)
    redis_url = env.get("REDIS_URL", "").strip() or None
    db_url = env.get("DATABASE_URL", "").strip() or f"sqlite:///{instance / 'drp.sqlite'}"
    broker_dir = instance / "celery-broker"
    cfg: dict = {
        "SECRET_KEY": env.get("SECRET_KEY") or _dev_secret(instance),
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(db_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_DEFAULT_TIMEZONE": env.get("DRP_TIMEZONE", "Asia/Shanghai"),
        "LANGUAGES": {"zh": "简体中文", "en": "English"},
        "WTF_CSRF_CHECK_DEFAULT": False,  # app.security runs the check itself, skipping bearer-token API calls
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "0") == "1",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "10 per minute"),
        "MAX_CONTENT_LENGTH": int(env.get("MAX_UPLOAD_MB", "64")) * 1024 * 1024,
        "BOOTSTRAP_SERVE_LOCAL": True,
        "LOG_FORMAT": env.get("LOG_FORMAT", "json"),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        "REGIONS_DIR": env.get("REGIONS_DIR", str(BASE_DIR.parent / "shared" / "data" / "regions")),
        # flask-smorest / OpenAPI
        "API_TITLE": "DRP channel distribution API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_PAGE_SIZE_MAX": 500,
        # inventory: days of inventory = on hand ÷ average daily sell-out over this many days, with the flags
        # (per-distributor overrides: {"distributor code": {"under": 10, "over": 60}}); near-expiry alert windows
        "DOI_WINDOW_DAYS": int(env.get("DOI_WINDOW_DAYS", "90")),
        "DOI_UNDER_DAYS": int(env.get("DOI_UNDER_DAYS", "15")),
        "DOI_OVER_DAYS": int(env.get("DOI_OVER_DAYS", "90")),
        "DOI_TARGET_OVERRIDES": {},
        "NEAR_EXPIRY_WINDOWS": tuple(int(x) for x in env.get("NEAR_EXPIRY_WINDOWS", "180,90,30").split(",")),
        # returns: the return policy (distribution.return_rules.ReturnPolicy documents each key and its default;
        # any key left out keeps its default)
        "RETURN_POLICY": _return_policy(env),
        # channel-data ingestion: raw-file store (default <instance>/raw-files), size limit, chunk size, the share
        # of rejected rows above which a file is refused whole, due day of reports (days after the period ends;
        # per distributor and kind on the 上报及时率 page), which kinds every distributor is expected to send,
        # drop-folder scan interval and how long a file must stay unchanged before it is picked up
        "INGEST_STORE_DIR": env.get("INGEST_STORE_DIR") or None,
        "INGEST_MAX_MB": int(env.get("INGEST_MAX_MB", "150")),
        "INGEST_CHUNK_ROWS": int(env.get("INGEST_CHUNK_ROWS", "50000")),
        "INGEST_CHUNK_PAUSE_SECONDS": float(env.get("INGEST_CHUNK_PAUSE_SECONDS", "0")),
        "INGEST_MAX_REJECTED_SHARE": float(env.get("INGEST_MAX_REJECTED_SHARE", "0.5")),
        "INGEST_DUE_DAY": int(env.get("INGEST_DUE_DAY", "5")),
        "INGEST_EXPECTED_KINDS": tuple(env.get("INGEST_EXPECTED_KINDS", "sell_out,inventory").split(",")),
        "INGEST_DROP_STABLE_SECONDS": int(env.get("INGEST_DROP_STABLE_SECONDS", "60")),
        # Celery: Redis when configured, otherwise a broker in the instance folder so a worker and beat
        # still run with no server installed.
        "CELERY": {
            "broker_url": redis_url or "filesystem://localhost//",  # the host is ignored; naming one keeps kombu quiet
            "broker_transport_options": {}
            if redis_url
            else {
                "data_folder_in": str(broker_dir / "out"),
                "data_folder_out": str(broker_dir / "out"),
                "processed_folder": str(broker_dir / "processed"),
                "control_folder": str(broker_dir / "control"),  # kombu's default is ./control in the cwd
                "store_processed": False,
            },
            "result_backend": redis_url or f"file://{instance / 'celery-results'}",
            "task_ignore_result": False,
            # several installations (or test runs) can share one Redis by each using its own queue
            "task_default_queue": env.get("DRP_CELERY_QUEUE", "celery"),
            "task_serializer": "json",
            "accept_content": ["json"],
            "timezone": env.get("DRP_TIMEZONE", "Asia/Shanghai"),
            "enable_utc": True,
            "broker_connection_retry_on_startup": True,
            "worker_hijack_root_logger": False,
            "worker_prefetch_multiplier": 1,  # late-acknowledged tasks (a big file's load) are not hoarded
            "beat_schedule_filename": str(instance / "celerybeat-schedule"),
            "beat_schedule": {
                "licence-expiry-scan": {
                    "task": "app.tasks.scan_licence_expiry",
                    "schedule": crontab(hour=6, minute=0),
                },
                "agreement-expiry": {  # expire ended agreements, remind of those ending within 60/30/7 days
                    "task": "distribution.tasks.run_agreement_expiry",
                    "schedule": crontab(hour=0, minute=15),
                },
                "agreement-gaps-scan": {  # distributors without a valid agreement or licence
                    "task": "distribution.tasks.scan_agreement_gaps",
                    "schedule": crontab(hour=6, minute=10),
                },
                "near-expiry-scan": {  # one alert per lot per window (180 / 90 / 30 days, expired)
                    "task": "inventory.tasks.scan_near_expiry",
                    "schedule": crontab(hour=6, minute=5),
                },
                "coverage-rollups-rebuild": {  # the coverage rollups and diversion flags from the current facts
                    "task": "distribution.tasks.rebuild_coverage_rollups",
                    "schedule": crontab(hour=2, minute=30),
                },
                "coverage-refresh": {  # coverage refreshes queued by loads (each load also starts one at once)
                    "task": "distribution.tasks.refresh_coverage",
                    "schedule": timedelta(seconds=int(env.get("DRP_COVERAGE_REFRESH_SECONDS", "60"))),
                },
                "monthly-channel-report": {  # the channel report (PDF) of the month before
                    "task": "distribution.tasks.monthly_channel_report",
                    "schedule": crontab(day_of_month=1, hour=7, minute=0),
                },
                "credit-overdue-holds": {  # hold distributors with invoices overdue past the grace days
                    "task": "credit.tasks.apply_overdue_holds",
                    "schedule": crontab(hour=0, minute=30),
                },
                "drop-folder-scan": {  # channel-data files left in the distributors' drop folders
                    "task": "ingestion.tasks.scan_drop_folders",
                    "schedule": timedelta(seconds=int(env.get("INGEST_DROP_SCAN_SECONDS", "300"))),
                },
                "heartbeat": {
                    "task": "app.tasks.heartbeat",
                    "schedule": timedelta(seconds=int(env.get("DRP_BEAT_HEARTBEAT_SECONDS", "300"))),
                },
            },
        },
        "DIRS_TO_CREATE": [str(broker_dir / d) for d in ("out", "processed", "control")]
        + [str(instance / "celery-results")],
    }
    if overrides:
        celery_over = overrides.pop("CELERY", None)
        cfg.update(overrides)
        if celery_over:
            cfg["CELERY"] = {**cfg["CELERY"], **celery_over}
    return cfg


_RETURN_POLICY_ENV = {
    "RETURN_NEAR_EXPIRY_DAYS": "near_expiry_window_days",
    "RETURN_DAMAGE_REPORT_DAYS": "damaged_report_days",
    "RETURN_WRONG_SHIPMENT_DAYS": "wrong_shipment_report_days",
    "RETURN_OVERSTOCK_MIN_SHELF_DAYS": "overstock_min_shelf_days",
    "RETURN_OVERSTOCK_FEE_PCT": "overstock_restocking_fee_pct",
}


def _return_policy(env) -> dict:
    """The return policy's settings given in the environment (e.g. ``RETURN_NEAR_EXPIRY_DAYS=60``)."""
    out: dict = {}
    for var, key in _RETURN_POLICY_ENV.items():
        if env.get(var, "").strip():
            out[key] = env[var].strip() if key.endswith("_pct") else int(env[var])
    return out


def _dev_secret(instance: Path) -> str:
    """A per-installation random secret kept in the instance folder, so sessions survive restarts."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(os.urandom(32).hex())
    return path.read_text().strip()
