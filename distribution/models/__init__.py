"""Models of `distribution`: agreements, pricing, orders and the coverage analytics (returns come later)."""

from distribution.models.agreements import *  # noqa: F401,F403
from distribution.models.coverage import *  # noqa: F401,F403
from distribution.models.orders import *  # noqa: F401,F403
from distribution.models.pricing import *  # noqa: F401,F403
