"""The CLI's client of the gateway's REST API: ``myriagate.client.Client``, re-exported.

The client moved to ``myriagate.client`` so scripts and notebooks use the very class the
commands use; these names stay for the modules (and tests) that import them from here.
"""

from myriagate.client.client import Client, Stream, parse_job_id, segment
from myriagate.client.errors import GatewayUnreachable, error_from_response
from myriagate.client.transport import API

# The CLI's historical name for the same class.
GatewayClient = Client

__all__ = [
    "API",
    "Client",
    "GatewayClient",
    "GatewayUnreachable",
    "Stream",
    "error_from_response",
    "parse_job_id",
    "segment",
]
