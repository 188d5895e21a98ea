"""Models of `distribution`: agreements, pricing and orders (returns and analytics come later)."""

from distribution.models.agreements import *  # noqa: F401,F403
from distribution.models.orders import *  # noqa: F401,F403
from distribution.models.pricing import *  # noqa: F401,F403
