"""Celery tasks of `distribution` (none yet)."""
