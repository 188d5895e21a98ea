"""Models of distribution: pricing."""

__all__: list[str] = []
