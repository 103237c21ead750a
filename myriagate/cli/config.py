"""The CLI's config file (gateway URL and personal token): it lives in ``myriagate.client.config``,
shared with the Python client; re-exported here for the commands and tests that import it."""

from myriagate.client.config import (
    TOKEN_ENV,
    URL_ENV,
    CliConfig,
    config_path,
    load_config,
    normalise_url,
    save_config,
)

__all__ = ["TOKEN_ENV", "URL_ENV", "CliConfig", "config_path", "load_config", "normalise_url", "save_config"]
