"""Celery tasks of `inventory` (none yet)."""
