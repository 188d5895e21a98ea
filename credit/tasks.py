"""Celery tasks of `credit` (none yet)."""
