"""Pages of distribution: agreement (routes on the package blueprint `distribution.bp`)."""
