"""Models of `inventory` (none yet)."""
