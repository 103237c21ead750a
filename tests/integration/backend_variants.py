"""A gateway over the dev cluster whose profile drives Slurm another way (pyslurm, slurmrestd).

The whole-gateway tests of each backend (``test_api_pyslurm_real``, ``test_api_rest_real``)
run the researcher's path of ``test_api_real_cluster`` against the same profile with its
``[connection] backend`` switched: one copy of how that profile is made.
"""

from __future__ import annotations

from pathlib import Path

from myriagate.settings import Settings
from myriagate.wiring import Gateway, build_gateway

PROFILES = Path(__file__).resolve().parents[2] / "cluster_profiles"


def gateway_on_backend(settings: Settings, tmp_path: Path, backend: str, extra_toml: str = "") -> Gateway:
    """A gateway (its own SQLite database under ``tmp_path``) whose devcluster profile says
    ``backend = "<backend>"``, with ``extra_toml`` appended (a ``[connection.rest]`` table)."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    text = (PROFILES / "devcluster.toml").read_text()
    assert 'backend = "cli"' in text
    text = text.replace('backend = "cli"', f'backend = "{backend}"', 1) + extra_toml
    (profiles / "devcluster.toml").write_text(text)
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    return build_gateway(settings.model_copy(update={"database_url": database, "profiles_dir": profiles}))
