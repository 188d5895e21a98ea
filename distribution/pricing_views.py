"""Pages of distribution: pricing (routes on the package blueprint `distribution.bp`)."""
