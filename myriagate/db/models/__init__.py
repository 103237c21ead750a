"""The gateway's tables. Importing this package registers every model on ``Base.metadata``."""

from myriagate.db.base import Base
from myriagate.db.models.allocations import (
    Allocation,
    AllocationPeriod,
    EntryKind,
    InstitutionQuota,
    LedgerEntry,
)
from myriagate.db.models.audit import AuditEvent
from myriagate.db.models.auth import ApiToken, WebSession
from myriagate.db.models.dataset_transfers import DatasetTransfer
from myriagate.db.models.interactive import InteractiveSession
from myriagate.db.models.jobs import Job, JobArrayTask, JobStateChange
from myriagate.db.models.leases import Lease
from myriagate.db.models.notifications import BalanceWatch, Notification, NotificationPreference, Webhook
from myriagate.db.models.staging import (
    Dataset,
    DatasetFile,
    DatasetRole,
    DatasetUse,
    JobStaging,
    Upload,
    UploadFile,
)
from myriagate.db.models.users import Institution, Membership, MembershipRole, Project, User

__all__ = [
    "Allocation",
    "AllocationPeriod",
    "ApiToken",
    "AuditEvent",
    "BalanceWatch",
    "Base",
    "Dataset",
    "DatasetFile",
    "DatasetRole",
    "DatasetTransfer",
    "DatasetUse",
    "EntryKind",
    "Institution",
    "InstitutionQuota",
    "InteractiveSession",
    "Job",
    "JobArrayTask",
    "JobStaging",
    "JobStateChange",
    "Lease",
    "LedgerEntry",
    "Membership",
    "MembershipRole",
    "Notification",
    "NotificationPreference",
    "Project",
    "Upload",
    "UploadFile",
    "User",
    "WebSession",
    "Webhook",
]
