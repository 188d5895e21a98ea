"""All models of the shell; domain packages keep theirs in their own models.py."""

from app.models.base import AppendOnly, Audited, ManufacturerOnly, TenantScoped, TimestampMixin, utcnow  # noqa: F401
from app.models.masterdata import (  # noqa: F401
    HOSPITAL_GRADES,
    PHARMACY_SIZES,
    Distributor,
    DistributorStatus,
    LocationKind,
    Product,
    ProductLine,
    Region,
    RegionLevel,
    StockLocation,
    TargetList,
    TargetListEntry,
    Terminal,
    TerminalAlias,
    TerminalType,
)
from app.models.users import ROLE_VALUES, ApiToken, AuditLog, Notification, Role, User  # noqa: F401
