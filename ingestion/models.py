"""Models of `ingestion` (none yet)."""
