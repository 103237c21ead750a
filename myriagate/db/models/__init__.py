"""The gateway's tables. Importing this package registers every model on ``Base.metadata``."""

from myriagate.db.base import Base
from myriagate.db.models.audit import AuditEvent
from myriagate.db.models.auth import ApiToken, WebSession
from myriagate.db.models.jobs import Job, JobStateChange
from myriagate.db.models.leases import Lease
from myriagate.db.models.users import Institution, Membership, MembershipRole, Project, User

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Institution",
    "Job",
    "JobStateChange",
    "Lease",
    "Membership",
    "MembershipRole",
    "Project",
    "User",
    "WebSession",
]
