"""Models of `distribution` (none yet)."""
