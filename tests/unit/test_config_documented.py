"""Every setting and every cluster-profile key is documented in docs/configuration.md."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from myriagate.profiles.loader import nested_model
from myriagate.profiles.models import ClusterProfile
from myriagate.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def profile_keys(model: type[BaseModel] = ClusterProfile, prefix: str = "") -> Iterator[str]:
    """TOML key paths of a profile (``partitions.billing_weights.cpu``), walking nested models."""
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        nested = nested_model(field.annotation)
        if nested is None:
            yield path
        else:
            yield from profile_keys(nested, path + ".")


def env_names() -> list[str]:
    return [f"MYRIAGATE_{name.upper()}" for name in Settings.model_fields]


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def test_walk_finds_nested_keys() -> None:
    keys = set(profile_keys())
    assert {"schema", "connection.host", "partitions.billing_weights.mem_per_gb", "storage.region"} <= keys


@pytest.mark.parametrize("env", env_names())
def test_every_setting_is_documented(doc: str, env: str) -> None:
    assert f"`{env}`" in doc, f"{env} is missing from docs/configuration.md"


@pytest.mark.parametrize("key", list(profile_keys()))
def test_every_profile_key_is_documented(doc: str, key: str) -> None:
    assert f"`{key}`" in doc, f"profile key {key} is missing from docs/configuration.md"


def test_no_documented_profile_key_is_stale(doc: str) -> None:
    section = doc.split("## Cluster profiles", 1)[1]
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", section, flags=re.MULTILINE))
    assert documented, "the profile key table was not found"
    assert documented <= set(profile_keys()), documented - set(profile_keys())


def test_no_documented_setting_is_stale(doc: str) -> None:
    documented = set(re.findall(r"`(MYRIAGATE_[A-Z_]+)`", doc))
    assert documented <= set(env_names()), documented - set(env_names())
