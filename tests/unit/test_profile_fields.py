"""Profile fields for real job scripts' options: features, QOS, node lists, node shape, --tmp,
GPU types (several, MIG slices) and licenses; each checked when the profile loads."""

from __future__ import annotations

import pytest

from myriagate.domain.jobs import GresRequest, JobSpec
from myriagate.errors import ConfigError, ProfileViolation
from myriagate.profiles import ClusterProfile, check_job, load_profile, parse_profile
from myriagate.profiles.loader import bundled_profiles_dir
from myriagate.settings import Settings
from tests.fakes.mini_profile import MINI_HEADER, MINI_LICENSES, gpu_partition, shaped_cpu_partition

BASE = MINI_HEADER + MINI_LICENSES + shaped_cpu_partition("court") + gpu_partition()


def load(text: str = BASE) -> ClusterProfile:
    return parse_profile(text, source="mini.toml")


def test_every_field_is_read() -> None:
    profile = load()
    court = profile.partitions[0]
    assert court.features == ("broadwell", "ib", "avx2")
    assert court.qos == ("normal", "short")
    assert court.nodes == "node[001-004]"
    assert court.node_names == ("node001", "node002", "node003", "node004")
    assert (court.sockets_per_node, court.cores_per_socket, court.threads_per_core) == (2, 14, 1)
    assert court.tmp_per_node_mb == 10000
    assert profile.licenses == {"matlab": 4, "ansys@flexlm": 2}
    assert profile.partitions[1].offered_gpu_types == ("a100", "a100_1g.10gb")
    assert isinstance(hash(profile), int)  # profiles stay hashable despite the licenses table


def test_defaults_offer_nothing_extra() -> None:
    profile = load(BASE.replace('licenses = { matlab = 4, "ansys@flexlm" = 2 }', ""))
    gpu = profile.partitions[1]
    assert (gpu.features, gpu.qos, gpu.nodes, gpu.node_names, gpu.tmp_per_node_mb) == ((), (), None, (), None)
    assert gpu.sockets_per_node is None and profile.licenses == {}


def test_single_gpu_type_still_works() -> None:
    profile = load(BASE.replace('gpu_types = ["a100", "a100_1g.10gb"]', 'gpu_type = "p100"'))
    assert profile.partitions[1].gpu_type == "p100"
    assert profile.partitions[1].offered_gpu_types == ("p100",)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"ib", "avx2"]', '"ib&avx2"]', "'ib&avx2' is not a valid node feature name"),
        ('"ib", "avx2"]', '"ib", "ib"]', "node feature names must be unique: ib"),
        ('qos = ["normal", "short"]', 'qos = ["normal", "short,long"]', "not a valid QOS name"),
        ('nodes = "node[001-004]"', 'nodes = "node[1-[2-3]]"', "brackets inside brackets"),
        ('nodes = "node[001-004]"', 'nodes = "node[4-1]"', "goes backwards"),
        ("threads_per_core = 1", "threads_per_core = 2", "= 56, not cpus_per_node 28"),
        (
            "threads_per_core = 1\n",
            "",
            "cores_per_socket and threads_per_core together",
        ),
        ("tmp_per_node_mb = 10000", "tmp_per_node_mb = 0", "greater than or equal to 1"),
        ('"a100_1g.10gb"]', '"a100:1g"]', "'a100:1g' is not a valid GPU type name"),
        ('gpu_types = ["a100", "a100_1g.10gb"]', 'gpu_types = ["a100"]\ngpu_type = "a100"', "not both"),
        ("gpus_per_node = 4", "gpus_per_node = 0", "a GPU type is set but gpus_per_node is 0"),
        ("matlab = 4", "matlab = 0", "count of at least 1"),
        ("matlab = 4", '"mat lab" = 4', "'mat lab' is not a valid license name"),
    ],
)
def test_invalid_values_are_explained(old: str, new: str, message: str) -> None:
    assert old in BASE
    with pytest.raises(ConfigError) as caught:
        load(BASE.replace(old, new, 1))
    assert message in caught.value.detail


def test_new_keys_are_listed_when_one_is_misspelt() -> None:
    with pytest.raises(ConfigError, match="did you mean 'features'") as caught:
        load(BASE.replace("features =", "featurs ="))
    assert "gpu_types" in caught.value.detail and "tmp_per_node_mb" in caught.value.detail


def test_untyped_and_listed_gpu_types_pass_other_types_are_refused() -> None:
    profile = load()
    for gres in (GresRequest(name="gpu", count=2), GresRequest(name="gpu", type="a100_1g.10gb", count=1)):
        check_job(profile, JobSpec(partition="gpu", gres=(gres,)), allowed_accounts={"p"})
    with pytest.raises(
        ProfileViolation, match=r"GPU type 'h200' is not on partition 'gpu' \(it has: a100, a100_1g"
    ):
        check_job(
            profile,
            JobSpec(partition="gpu", gres=(GresRequest(name="gpu", type="h200", count=1),)),
            allowed_accounts={"p"},
        )


# --- the bundled CRIANN profiles ---------------------------------------------------------
def _bundled(name: str) -> ClusterProfile:
    return load_profile(name, Settings(dev_mode=True))


def test_myria_has_tlong_and_a_2tcourt_limit_that_fits_real_jobs() -> None:
    myria = _bundled("myria")
    tlong, two_tcourt = myria.partition("tlong"), myria.partition("2tcourt")
    assert tlong is not None and tlong.max_walltime_s == 300 * 3600
    assert two_tcourt is not None and two_tcourt.max_walltime_s >= 11 * 3600


def test_austral_gpu_partitions_accept_untyped_and_listed_types() -> None:
    austral = _bundled("austral")
    assert austral.connection.host == "austral.criann.fr"
    mig = austral.partition("hpda_mig")
    assert mig is not None and "a100_1g.10gb" in mig.offered_gpu_types
    for partition, gres in (
        ("hpda_mig", GresRequest(name="gpu", type="a100_1g.10gb", count=1)),
        ("hpda_mig", GresRequest(name="gpu", count=1)),
        ("gpu_h200", GresRequest(name="gpu", type="h200", count=4)),
        ("gpu_all", GresRequest(name="gpu", type="h200", count=1)),
    ):
        check_job(austral, JobSpec(partition=partition, gres=(gres,)), allowed_accounts={"2017018"})
    with pytest.raises(ProfileViolation, match="GPU type 'h200' is not on partition 'hpda_mig'"):
        check_job(
            austral,
            JobSpec(partition="hpda_mig", gres=(GresRequest(name="gpu", type="h200", count=1),)),
            allowed_accounts={"2017018"},
        )


@pytest.mark.parametrize("name", ["myria", "austral"])
def test_crianns_unconfirmed_limits_are_marked(name: str) -> None:
    text = (bundled_profiles_dir() / f"{name}.toml").read_text(encoding="utf-8")
    # Every partition's limits, except the few confirmed from public scripts, say so.
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        if key in ("max_nodes", "mem_per_node_mb", "default_walltime", "billing_weights"):
            assert "# unconfirmed" in line, line
