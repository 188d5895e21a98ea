"""Models of `distribution`: agreements, pricing, orders, returns and recalls, coverage analytics."""

from distribution.models.agreements import *  # noqa: F401,F403
from distribution.models.coverage import *  # noqa: F401,F403
from distribution.models.orders import *  # noqa: F401,F403
from distribution.models.pricing import *  # noqa: F401,F403
from distribution.models.returns import *  # noqa: F401,F403
