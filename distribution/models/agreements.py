"""Models of distribution: agreements."""

__all__: list[str] = []
