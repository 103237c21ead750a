"""The Python client of a myriagate gateway, for scripts and notebooks (docs/client.md).

    from myriagate.client import Client

    with Client() as mg:  # what `myriagate login` stored, or MYRIAGATE_URL / MYRIAGATE_TOKEN
        job = mg.submit(Path("job.sh"), partition="debug", time="00:10:00")
        print(mg.wait(job).state, mg.logs(job))

It needs only the client install (``pip install myriagate``: httpx and pydantic); the
``myriagate`` command is built on it. Errors are the gateway's own ``MyriagateError``
classes, re-exported here.
"""

import sys

# httpx imports its own command-line tool at import time (click, pygments, rich.syntax: tens of
# milliseconds of every `myriagate` start where click is installed), which this client never
# runs. A None entry makes that one import fail, and httpx then defines its stub `httpx.main`
# instead (httpx/__init__.py catches the ImportError); nothing else of httpx changes.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from myriagate.client.client import Client, JobRef, Stream
from myriagate.client.errors import GatewayUnreachable, error_from_response
from myriagate.client.transfers import TransferProgress
from myriagate.domain.states import JobState
from myriagate.errors import (
    BackendError,
    ChecksumMismatch,
    ConfigError,
    Conflict,
    InsufficientAllocation,
    InvalidRequest,
    JobNotCancellable,
    MyriagateError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ResidencyViolation,
    SchedulerUnavailable,
)
from myriagate.web.api.schemas import (
    AllocationOut,
    DatasetDetail,
    DryRunOut,
    JobDetail,
    JobOut,
    JobSubmitted,
)
from myriagate.web.api.staging_schemas import DatasetOut

__all__ = [
    "AllocationOut",
    "BackendError",
    "ChecksumMismatch",
    "Client",
    "ConfigError",
    "Conflict",
    "DatasetDetail",
    "DatasetOut",
    "DryRunOut",
    "GatewayUnreachable",
    "InsufficientAllocation",
    "InvalidRequest",
    "JobDetail",
    "JobNotCancellable",
    "JobOut",
    "JobRef",
    "JobState",
    "JobSubmitted",
    "MyriagateError",
    "NotAuthenticated",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "ResidencyViolation",
    "SchedulerUnavailable",
    "Stream",
    "TransferProgress",
    "error_from_response",
]
