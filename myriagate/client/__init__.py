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

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from myriagate.client.client import Client, JobRef, Stream
    from myriagate.client.errors import GatewayUnreachable, error_from_response
    from myriagate.client.transfers import TransferProgress
    from myriagate.domain.states import JobState
    from myriagate.errors import (
        AlreadyExists,
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
    from myriagate.web.api.allocation_schemas import AllocationOut
    from myriagate.web.api.schemas import JobDetail, JobOut, JobSubmitted
    from myriagate.web.api.staging_schemas import DatasetDetail, DatasetOut
    from myriagate.web.api.submit_schemas import DryRunOut

# Each name is imported when it is first asked for (PEP 562): the `myriagate` command imports
# ``myriagate.client.client`` through this package, and should not pay for every model here.
_ORIGIN = {
    "AllocationOut": "myriagate.web.api.allocation_schemas",
    "AlreadyExists": "myriagate.errors",
    "BackendError": "myriagate.errors",
    "ChecksumMismatch": "myriagate.errors",
    "Client": "myriagate.client.client",
    "ConfigError": "myriagate.errors",
    "Conflict": "myriagate.errors",
    "DatasetDetail": "myriagate.web.api.staging_schemas",
    "DatasetOut": "myriagate.web.api.staging_schemas",
    "DryRunOut": "myriagate.web.api.submit_schemas",
    "GatewayUnreachable": "myriagate.client.errors",
    "InsufficientAllocation": "myriagate.errors",
    "InvalidRequest": "myriagate.errors",
    "JobDetail": "myriagate.web.api.schemas",
    "JobNotCancellable": "myriagate.errors",
    "JobOut": "myriagate.web.api.schemas",
    "JobRef": "myriagate.client.client",
    "JobState": "myriagate.domain.states",
    "JobSubmitted": "myriagate.web.api.schemas",
    "MyriagateError": "myriagate.errors",
    "NotAuthenticated": "myriagate.errors",
    "NotFound": "myriagate.errors",
    "PermissionDenied": "myriagate.errors",
    "RateLimited": "myriagate.errors",
    "ResidencyViolation": "myriagate.errors",
    "SchedulerUnavailable": "myriagate.errors",
    "Stream": "myriagate.client.client",
    "TransferProgress": "myriagate.client.transfers",
    "error_from_response": "myriagate.client.errors",
}


def __getattr__(name: str) -> object:
    module = _ORIGIN.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AllocationOut",
    "AlreadyExists",
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
