"""CLI tests reuse the in-process API fixtures of tests/web (a real app over a fake Slurm) and,
for the real-cluster tests, the dev-cluster fixtures of tests/integration. The CLI harness of
test_cli_unit (``run`` over the in-process API, ``logged_in`` as alice, ``worker``...) is found
by name here too; a module that defines its own fixture of one of these names keeps its own.
Its autouse ``quiet_server_logs`` is not: a module that wants it imports it."""

from tests.cli.test_cli_unit import (  # noqa: F401 - fixtures are found by name
    alice,
    config_file,
    env,
    http,
    logged_in,
    run,
    script,
    worker,
)
from tests.integration.conftest import devcluster, gateway_settings  # noqa: F401 - fixtures by name
from tests.web.conftest import (  # noqa: F401 - fixtures are found by name
    app,
    auth_client,
    backend_factory,
    fill_database,
    gateway,
    make_user,
    settings_overrides,
    token_for,
    web_session_factory,
    web_settings,
)
