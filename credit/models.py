"""Models of `credit` (none yet)."""
