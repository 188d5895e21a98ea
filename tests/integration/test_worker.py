"""Background work on real Celery processes: a worker on Redis + PostgreSQL, a worker on the embedded defaults
(filesystem broker, file result backend, SQLite), and beat sending the scheduled heartbeat.

The workers are subprocesses (``celery -A wsgi:celery ...``) configured only through the environment, exactly as
in production; the test process enqueues through a non-eager app built on the same configuration. Every process
started here is stopped in a fixture finaliser, whatever the outcome.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import redis
from celery import current_app as current_celery
from sqlalchemy import select

from tests.conftest import REDIS_URL, ROOT, create_database, drop_database, make_app

CELERY_BIN = str(Path(sys.executable).with_name("celery"))
WORKER_REDIS_DB = 14  # conftest's Redis DB is 15
NOT_EAGER = {"task_always_eager": False, "task_eager_propagates": False}


def _redis_db(url: str, db: int) -> str:
    return urlsplit(url)._replace(path=f"/{db}").geturl()


def _business_today() -> date:
    """The date a worker without FIXED_TODAY uses (app.clock)."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def build_app(database_url: str, instance: Path, **overrides):
    """A non-eager app for enqueueing; creating it must not leave its Celery app as the process default."""
    previous = current_celery._get_current_object()
    try:
        return make_app(database_url, instance, **overrides)
    finally:
        previous.set_current()
        previous.set_default()


def _subprocess_env(instance: Path, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DRP_INSTANCE_PATH", "DRP_BEAT_HEARTBEAT_SECONDS",
                         "DRP_CELERY_QUEUE")}
    base.update({"DRP_INSTANCE_PATH": str(instance), "LOG_LEVEL": "INFO", "LOG_FORMAT": "json",
                 "PYTHONUNBUFFERED": "1", "SECRET_KEY": "worker-test"})
    base.update(env)
    return base


class CeleryProcess:
    def __init__(self, args: list[str], env: dict, log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([CELERY_BIN, "-A", "wsgi:celery", *args], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def records(self) -> list[dict]:
        """The JSON log records written so far (the banner and other plain lines are skipped)."""
        out = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def stop(self) -> None:
        """Warm shutdown (SIGTERM to the main process, which stops its pool); SIGKILL to the group if it hangs."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
            try:  # pool children left behind, if any
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        finally:
            self._log.close()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def result_of(self, async_result, timeout: float = 20):
        """Wait for a task's result; on failure or timeout, show this process's log."""
        try:
            return async_result.get(timeout=timeout)
        except Exception as exc:
            raise AssertionError(f"task {async_result.id} failed: {exc!r}; log:\n{self.tail()}") from exc


@pytest.fixture
def start_celery(tmp_path):
    """start_celery(args, env, name) -> a running ``celery -A wsgi:celery <args>``; all are stopped at teardown."""
    started: list[CeleryProcess] = []

    def start(args: list[str], env: dict, name: str = "worker") -> CeleryProcess:
        process = CeleryProcess(args, env, tmp_path / f"{name}.log")
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


class RedisQueue:
    """A Redis DB other than conftest's and a queue name of one test's own, so that concurrent runs never meet.

    Cleaned up key by key (the queue, its bindings, the results of the tasks the test saw), not by flushing.
    """

    def __init__(self):
        self.url = _redis_db(REDIS_URL, WORKER_REDIS_DB)
        self.name = f"drp-test-{uuid.uuid4().hex[:12]}"
        self.client = redis.Redis.from_url(self.url)
        self.task_ids: set[str] = set()

    def env(self) -> dict:
        return {"REDIS_URL": self.url, "DRP_CELERY_QUEUE": self.name}

    def results(self, task_ids) -> list[dict]:
        self.task_ids.update(task_ids)
        raw = [self.client.get(f"celery-task-meta-{task_id}") for task_id in task_ids]
        return [json.loads(r) for r in raw if r is not None]

    def cleanup(self) -> None:
        keys = [*self.client.scan_iter(f"*{self.name}*"), *(f"celery-task-meta-{i}" for i in self.task_ids)]
        if keys:
            self.client.delete(*keys)
        self.client.close()


@pytest.fixture
def redis_queue():
    queue = RedisQueue()
    yield queue
    queue.cleanup()


def _redis_worker_args(queue: RedisQueue) -> list[str]:
    return ["worker", "--pool=solo", "--concurrency=1", "--without-mingle", "--without-gossip", "--loglevel=INFO",
            "-n", f"{queue.name}@%h"]


@pytest.fixture
def worker_database(tmp_path_factory, monkeypatch):
    """A fresh PostgreSQL database with the migrations applied."""
    from flask_migrate import upgrade

    from app.extensions import db

    name = f"drp_worker_{os.getpid()}"
    url = create_database(name)
    instance = tmp_path_factory.mktemp("migrate")
    monkeypatch.setenv("DRP_INSTANCE_PATH", str(instance))  # make_app sets it; restored after the test
    app = build_app(url, instance)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield url
    drop_database(name)


def _seed_licences(app) -> dict[str, int]:
    """Three distributors whose licences cross a threshold (expired, within 30, within 60 days), one that does not.

    Returns {code: id}.
    """
    from app.extensions import db
    from app.models import Distributor, Region

    today = _business_today()
    with app.app_context():
        region = Region(code="330100", name="杭州市", official_name="杭州市", level=2)
        db.session.add(region)
        expiries = {"WEXP": today - timedelta(days=5), "W30": today + timedelta(days=10),
                    "W60": today + timedelta(days=45), "WOK": today + timedelta(days=400)}
        rows = [Distributor(code=code, name=f"浙江{code}医药有限公司", tier=1, region=region, licence_no=f"浙AA{code}",
                            licence_expiry=expiry) for code, expiry in expiries.items()]
        db.session.add_all(rows)
        db.session.commit()
        ids = {d.code: d.id for d in rows}
        db.session.remove()
        db.engine.dispose()
    return ids


def _licence_notifications(app) -> list[tuple[int | None, str, str]]:
    from app.extensions import db
    from app.models import Notification

    with app.app_context():
        rows = db.session.execute(
            select(Notification.distributor_id, Notification.audience_role, Notification.dedupe_key)
            .where(Notification.kind == "licence_expiry")
        ).all()
        db.session.remove()
        db.engine.dispose()
    return sorted((tuple(r) for r in rows), key=repr)


@pytest.mark.worker
def test_worker_on_redis_and_postgresql_runs_the_tasks(tmp_path, monkeypatch, start_celery, redis_queue,
                                                       worker_database):
    worker = start_celery(_redis_worker_args(redis_queue),
                          _subprocess_env(tmp_path / "worker-instance", DATABASE_URL=worker_database,
                                          **redis_queue.env()))
    monkeypatch.setenv("DRP_INSTANCE_PATH", str(tmp_path))  # make_app sets it; restored after the test
    for key, value in redis_queue.env().items():
        monkeypatch.setenv(key, value)
    app = build_app(worker_database, tmp_path / "client", CELERY=NOT_EAGER)
    celery_app = app.extensions["celery"]
    assert celery_app.conf.broker_url == redis_queue.url and not celery_app.conf.task_always_eager
    assert celery_app.conf.task_default_queue == redis_queue.name
    ids = _seed_licences(app)

    def run(task_name: str):
        result = celery_app.tasks[task_name].apply_async()
        redis_queue.task_ids.add(result.id)
        return worker.result_of(result)

    try:
        assert run("app.tasks.heartbeat") == "ok"

        assert run("app.tasks.scan_licence_expiry") == 6  # 3 distributors x (channel managers + the distributor)
        rows = _licence_notifications(app)
        assert {(dist, role) for dist, role, _ in rows} == {
            (None, "channel_manager"), *((ids[c], "distributor") for c in ("WEXP", "W30", "W60"))
        }
        assert sorted(key.rsplit(":", 2)[1] for _, role, key in rows if role == "channel_manager") == ["0", "30", "60"]
        assert not any(dist == ids["WOK"] for dist, _, _ in rows)

        assert run("app.tasks.scan_licence_expiry") == 0  # once per threshold
        assert _licence_notifications(app) == rows

        # coverage: the nightly rebuild and the monthly channel report (once a month) run on the worker
        assert run("distribution.tasks.rebuild_coverage_rollups")["presence_rows"] == 0
        report_id = run("distribution.tasks.monthly_channel_report")
        assert run("distribution.tasks.monthly_channel_report") == report_id
        with app.app_context():
            from app.extensions import db
            from distribution.models.coverage import ChannelReport

            assert db.session.get(ChannelReport, report_id).pdf.startswith(b"%PDF")
            db.session.remove()
            db.engine.dispose()
    finally:
        celery_app.close()

    # the worker logs JSON like the web, including the task's own logger and Celery's task trace
    worker.stop()
    records = worker.records()
    assert any(r["logger"] == "app.tasks" and r["message"] == "heartbeat" for r in records), worker.tail()
    assert any(r["logger"] == "celery.app.trace" and "app.tasks.scan_licence_expiry" in r["message"]
               and "succeeded" in r["message"] for r in records), worker.tail()


@pytest.mark.worker
def test_worker_on_embedded_defaults_needs_no_redis(tmp_path, monkeypatch, start_celery):
    """No REDIS_URL, no DATABASE_URL: SQLite under the instance folder, filesystem broker, file result backend."""
    from flask_migrate import upgrade

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DRP_INSTANCE_PATH", str(tmp_path))
    instance = tmp_path / "instance"
    sqlite_url = f"sqlite:///{instance / 'drp.sqlite'}"
    app = build_app(sqlite_url, instance, CELERY=NOT_EAGER)
    celery_app = app.extensions["celery"]
    assert celery_app.conf.broker_url.startswith("filesystem://")
    assert celery_app.conf.result_backend == f"file://{instance / 'celery-results'}"
    with app.app_context():
        upgrade()
    ids = _seed_licences(app)

    # the default prefork pool, as scripts/run.sh starts it
    worker = start_celery(["worker", "--concurrency=1", "--loglevel=INFO"], _subprocess_env(instance))
    try:
        assert worker.result_of(celery_app.tasks["app.tasks.heartbeat"].apply_async(), timeout=25) == "ok"
        assert worker.result_of(celery_app.tasks["app.tasks.scan_licence_expiry"].apply_async()) == 6
    finally:
        celery_app.close()
    rows = _licence_notifications(app)
    assert len(rows) == 6 and not any(dist == ids["WOK"] for dist, _, _ in rows)
    assert list((instance / "celery-results").iterdir()), "results went through the file backend"


@pytest.mark.worker
def test_beat_sends_the_heartbeat_on_schedule(tmp_path, start_celery, redis_queue):
    """``celery beat`` as its own process (as in production), with the heartbeat every second."""
    instance = tmp_path / "instance"
    env = _subprocess_env(instance, DATABASE_URL=f"sqlite:///{instance / 'drp.sqlite'}", DRP_BEAT_HEARTBEAT_SECONDS="1",
                          **redis_queue.env())
    worker = start_celery(_redis_worker_args(redis_queue), env, name="worker")
    beat = start_celery(["beat", "--loglevel=INFO"], env, name="beat")

    def heartbeats() -> list[str]:
        return [r["data"]["id"] for r in worker.records()
                if r["logger"] == "celery.app.trace" and "app.tasks.heartbeat" in r["message"]
                and "succeeded" in r["message"]]

    deadline = time.monotonic() + 25
    while len(heartbeats()) < 2 and time.monotonic() < deadline:
        assert worker.proc.poll() is None, worker.tail()
        assert beat.proc.poll() is None, beat.tail()
        time.sleep(0.5)
    done = heartbeats()
    assert len(done) >= 2, f"worker:\n{worker.tail()}\n\nbeat:\n{beat.tail()}"
    assert any(r["logger"] == "celery.beat" and "app.tasks.heartbeat" in r["message"] for r in beat.records())
    results = redis_queue.results(done)
    assert len(results) == len(done) and all(r["status"] == "SUCCESS" and r["result"] == "ok" for r in results)


def test_every_scheduled_task_is_registered(tmp_path):
    """What ``celery -A wsgi:celery`` sees in a fresh process (this process may have imported task modules)."""
    script = (
        "import json\n"
        "from wsgi import celery\n"
        "schedule = {name: entry['task'] for name, entry in celery.conf.beat_schedule.items()}\n"
        "heartbeat = celery.conf.beat_schedule['heartbeat']['schedule'].total_seconds()\n"
        "print(json.dumps({'schedule': schedule, 'registered': sorted(celery.tasks), 'heartbeat': heartbeat}))\n"
    )
    env = _subprocess_env(tmp_path, LOG_LEVEL="WARNING", DRP_BEAT_HEARTBEAT_SECONDS="7")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    found = json.loads(out.strip().splitlines()[-1])
    assert found["schedule"], "the beat schedule is empty"
    missing = sorted(task for task in found["schedule"].values() if task not in found["registered"])
    assert not missing, f"scheduled but not registered: {missing}"
    assert found["heartbeat"] == 7  # DRP_BEAT_HEARTBEAT_SECONDS
