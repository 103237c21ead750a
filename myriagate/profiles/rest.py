"""``[connection.rest]``: how the gateway reaches a cluster's slurmrestd (``backend = "rest"``).

Read by ``wiring.ClusterBackends``; the key file itself is checked (0600, regular) when the
gateway starts, by ``slurm.rest_tokens.read_key``. docs/backends.md says when to choose it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RestConnection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # slurmrestd's base URL, e.g. http://127.0.0.1:6820 (https through a site's proxy).
    url: str
    # The cluster's HS256 key (slurm.conf AuthAltParameters=jwt_key=…), a copy the gateway
    # alone may read: mode 0600 or stricter, refused at start-up otherwise.
    jwt_key: Path
    # Lifespan of each token minted for a login, in minutes (scontrol token's lifespan).
    jwt_lifespan_min: int = Field(default=5, ge=1, le=1440)
    # Seconds to wait for one slurmrestd answer (connecting: at most 10).
    timeout_s: float = Field(default=30.0, gt=0)
    # slurmrestd has no file API. "runner": output files and the login's home are read through
    # the profile's runner (SSH with a certificate, or local); "none": never (the job output
    # pages say so), and the home is ``home`` with {login} replaced.
    files: Literal["runner", "none"] = "runner"
    home: str = "/home/{login}"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("must carry no user, password, query or fragment")
        return value.rstrip("/")

    @field_validator("home")
    @classmethod
    def _home(cls, value: str) -> str:
        if not value.startswith("/") or "{login}" not in value:
            raise ValueError('must be an absolute path naming {login}, e.g. "/home/{login}"')
        return value
