"""CLI tests reuse the in-process API fixtures of tests/web (a real app over a fake Slurm) and,
for the real-cluster tests, the dev-cluster fixtures of tests/integration."""

from tests.integration.conftest import devcluster, gateway_settings  # noqa: F401 - fixtures by name
from tests.web.conftest import (  # noqa: F401 - fixtures are found by name
    app,
    auth_client,
    backend_factory,
    gateway,
    make_user,
    settings_overrides,
    token_for,
    web_session_factory,
    web_settings,
)
