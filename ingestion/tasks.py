"""Celery tasks of `ingestion` (none yet)."""
