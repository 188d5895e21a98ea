"""Live progress of a submission being processed, readable while the load's transaction is still open.

The load runs in one database transaction, so its progress cannot be read from the database until it commits.
It is kept beside it instead: in Redis when ``REDIS_URL`` is set (any web machine can read it), otherwise in a small
JSON file per submission under the instance folder (the embedded single-machine default). Values are plain:
``{"stage": str, "rows": int, "bytes": int, "total_bytes": int, "at": float}``. Losing them loses nothing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from flask import current_app

TTL = 24 * 3600


def _redis():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    import redis

    client = current_app.extensions.get("ingest_progress_redis")
    if client is None:
        client = current_app.extensions["ingest_progress_redis"] = redis.Redis.from_url(url, socket_timeout=2)
    return client


def _key(submission_id: int) -> str:
    return f"drp:ingest-progress:{current_app.config.get('CELERY', {}).get('task_default_queue', '')}:{submission_id}"


def _file(submission_id: int) -> Path:
    folder = Path(current_app.instance_path) / "ingest-progress"
    folder.mkdir(exist_ok=True)
    return folder / f"{submission_id}.json"


def report(submission_id: int, stage: str, rows: int = 0, done_bytes: int = 0, total_bytes: int = 0) -> None:
    """Record where the load of ``submission_id`` is (best effort: a failure to record is ignored)."""
    value = {"stage": stage, "rows": rows, "bytes": done_bytes, "total_bytes": total_bytes, "at": time.time()}
    try:
        client = _redis()
        if client is not None:
            client.set(_key(submission_id), json.dumps(value), ex=TTL)
            return
        path = _file(submission_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001 - progress is a courtesy; the load must not fail for it
        current_app.logger.warning("could not record ingestion progress", exc_info=True)


def read(submission_id: int) -> dict | None:
    try:
        client = _redis()
        if client is not None:
            raw = client.get(_key(submission_id))
            return json.loads(raw) if raw else None
        path = _file(submission_id)
        return json.loads(path.read_text()) if path.exists() else None
    except Exception:  # noqa: BLE001
        return None


def percent(value: dict | None) -> int | None:
    if not value or not value.get("total_bytes"):
        return None
    return max(0, min(100, round(100 * value["bytes"] / value["total_bytes"])))
