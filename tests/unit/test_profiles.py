"""Cluster profiles: loading, readable errors for typos, job checks against partition limits."""

from __future__ import annotations

import importlib.resources
from decimal import Decimal
from pathlib import Path

import pytest

from myriagate.domain.jobs import GresRequest, JobSpec
from myriagate.errors import ConfigError, ProfileViolation
from myriagate.profiles import ClusterProfile, check_job, load_all_profiles, load_profile, parse_profile
from myriagate.settings import Settings
from tests.fakes.mini_profile import MINI_HEADER

MINIMAL = (
    MINI_HEADER
    + """
[[partitions]]
name = "court"
max_walltime = "04:00:00"
max_nodes = 2
cpus_per_node = 32
mem_per_node_mb = 64000
default = true
"""
)


def settings(profiles_dir: Path | None = None) -> Settings:
    return Settings(dev_mode=True, profiles_dir=profiles_dir)


# --- loading -------------------------------------------------------------------------
def test_bundled_profiles_are_reachable_as_package_data() -> None:
    folder = importlib.resources.files("myriagate._bundled") / "cluster_profiles"
    assert (folder / "devcluster.toml").is_file()
    assert (folder / "myria.toml").is_file()


def test_devcluster_profile_matches_the_dev_cluster() -> None:
    profile = load_profile("devcluster", settings())
    assert profile.connection.host == "127.0.0.1"
    assert profile.connection.port == 2222
    assert str(profile.connection.known_hosts) == "/var/lib/myriagate-devcluster/known_hosts"
    assert profile.connection.service_login == "myriagate"
    assert profile.partition_names == ("court", "long", "debug", "gpu", "parallel")
    assert profile.default_partition is not None and profile.default_partition.name == "court"
    court, long, debug, gpu, parallel = profile.partitions
    assert (court.max_walltime_s, long.max_walltime_s, debug.max_walltime_s) == (4 * 3600, 5 * 86400, 1800)
    assert court.billing_weights.cpu == Decimal("1.0")
    assert long.billing_weights.cpu == Decimal("1.5")
    assert court.billing_weights.mem_per_gb == Decimal("0.25")
    assert all(
        p.cpus_per_node == 32 and p.mem_per_node_mb == 64000 and p.gpus_per_node == 0 and p.nodes == "vm"
        for p in (court, long, debug)
    )
    # slurm.conf: Gres=gpu:p100:2 on vm, TRESBillingWeights="CPU=1.0,Mem=0.25G,GRES/gpu=4.0"
    assert (gpu.gpus_per_node, gpu.offered_gpu_types, gpu.billing_weights.gpu) == (2, ("p100",), Decimal(4))
    # four DOWN placeholder nodes of Myria's shape, for multi-node jobs that pend
    assert parallel.node_names == ("node001", "node002", "node003", "node004")
    assert (parallel.cpus_per_node, parallel.max_nodes, parallel.mem_per_node_mb) == (28, 4, 128000)
    assert profile.licenses == {"matlab": 4, "ansys": 2}
    assert (court.qos, long.qos) == (("normal", "short"), ("normal", "long"))
    regions = {s.name: s.region for s in profile.storage}
    assert regions == {"caen": "FR-NOR", "paris": "FR-IDF"}
    assert profile.region == "FR-NOR"
    assert {s.port for s in profile.storage} == {2223}


def test_myria_profile_loads_with_gpu_partitions() -> None:
    profile = load_profile("myria", settings())
    assert profile.connection.host == "myria.criann.fr"
    for name in ("tcourt", "2tcourt", "debug", "gpu_k80", "gpu_p100", "gpu_v100", "gpu_all"):
        assert profile.partition(name) is not None, name
    p100 = profile.partition("gpu_p100")
    assert p100 is not None and p100.gpus_per_node == 2 and p100.max_walltime_s == 48 * 3600


def test_myria_marks_unconfirmed_limits() -> None:
    text = (importlib.resources.files("myriagate._bundled") / "cluster_profiles" / "myria.toml").read_text()
    assert text.count("# unconfirmed") >= 10


def test_site_directory_wins_over_bundled(tmp_path: Path) -> None:
    (tmp_path / "devcluster.toml").write_text(MINIMAL.replace('"mini"', '"devcluster"'))
    (tmp_path / "mini.toml").write_text(MINIMAL)
    s = settings(tmp_path)
    assert load_profile("devcluster", s).display_name == "Mini"
    assert set(load_all_profiles(s)) == {"austral", "devcluster", "myria", "mini"}


def test_missing_profile_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="devcluster, myria"):
        load_profile("nowhere", settings())


def test_profile_name_must_match_its_file(tmp_path: Path) -> None:
    (tmp_path / "other.toml").write_text(MINIMAL)
    with pytest.raises(ConfigError, match=r"other\.toml"):
        load_profile("other", settings(tmp_path))


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", ""])
def test_profile_names_cannot_escape_the_directory(name: str) -> None:
    with pytest.raises(ConfigError):
        load_profile(name, settings())


# --- readable errors -----------------------------------------------------------------
def test_typo_names_file_key_path_and_valid_keys() -> None:
    text = MINIMAL.replace("max_walltime", "max_waltime")
    with pytest.raises(ConfigError) as caught:
        parse_profile(text, source="/etc/myriagate/mini.toml")
    detail = caught.value.detail
    assert "/etc/myriagate/mini.toml" in detail
    assert "partitions[0].max_waltime: unknown key" in detail
    assert "did you mean 'max_walltime'" in detail
    assert "cpus_per_node" in detail and "billing_weights" in detail  # the valid keys are listed
    assert any(f.loc == ("partitions", 0, "max_waltime") for f in caught.value.fields)


def test_typo_in_a_nested_table() -> None:
    text = MINIMAL.replace('runner = "local"', 'runer = "local"')
    with pytest.raises(ConfigError, match=r"connection\.runer: unknown key \(did you mean 'runner'\?\)"):
        parse_profile(text, source="mini.toml")


def test_typo_at_top_level_lists_sections() -> None:
    with pytest.raises(ConfigError, match="valid keys here: schema, name, display_name"):
        parse_profile(MINIMAL + "\n[partitons]\n", source="mini.toml")


def test_unknown_schema_version_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown schema version 2"):
        parse_profile(MINIMAL.replace("schema = 1", "schema = 2"), source="mini.toml")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('max_walltime = "04:00:00"', 'max_walltime = "four hours"', "not a Slurm time"),
        ('timezone = "Europe/Paris"', 'timezone = "Europe/Pariss"', "IANA time zone"),
        ('runner = "local"', 'runner = "ssh"', "needs both host and known_hosts"),
        ('name = "court"', 'name = "court; rm"', "not a valid partition name"),
        ("default = true", "billing_weights = { cpu = 1.1 }", "so it stays exact"),
        ("default = true", 'default_walltime = "05:00:00"', "longer than max_walltime"),
        ('slurm_version = "22.05"', 'slurm_version = "new"', "Slurm release"),
    ],
)
def test_invalid_values_are_explained(old: str, new: str, message: str) -> None:
    assert old in MINIMAL
    with pytest.raises(ConfigError, match=message):
        parse_profile(MINIMAL.replace(old, new), source="mini.toml")


def test_invalid_toml_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"mini\.toml: not valid TOML"):
        parse_profile("schema = = 1", source="mini.toml")


def test_default_partition_must_exist() -> None:
    text = MINIMAL + '\n[slurm]\ndefault_partition = "long"\n'
    with pytest.raises(ConfigError, match="default_partition 'long' is not a partition; valid: court"):
        parse_profile(text, source="mini.toml")


def test_storage_region_must_be_iso_3166_2() -> None:
    text = (
        MINIMAL + '\n[[storage]]\nname = "x"\nhost = "h"\nroot = "/srv"\nlogin = "svc"\n'
        'known_hosts = "/k"\noperator = "o"\nsite = "s"\nregion = "Normandy"\n'
    )
    with pytest.raises(ConfigError, match="ISO 3166-2"):
        parse_profile(text, source="mini.toml")


def test_storage_endpoint_needs_login_known_hosts_and_absolute_root() -> None:
    base = MINIMAL + '\n[[storage]]\nname = "x"\nhost = "h"\noperator = "o"\nsite = "s"\nregion = "FR-NOR"\n'
    with pytest.raises(ConfigError, match="login"):
        parse_profile(base + 'root = "/srv"\nknown_hosts = "/k"\n', source="mini.toml")
    with pytest.raises(ConfigError, match="absolute path"):
        parse_profile(base + 'root = "srv/../x"\nlogin = "svc"\nknown_hosts = "/k"\n', source="mini.toml")


def test_cluster_region_is_validated() -> None:
    with pytest.raises(ConfigError, match="ISO 3166-2"):
        parse_profile(MINIMAL.replace("schema = 1", 'schema = 1\nregion = "normandie"'), source="mini.toml")


# --- job checks ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def dev() -> object:
    return load_profile("devcluster", settings())


def test_defaults_are_filled_in(dev: ClusterProfile) -> None:
    spec = check_job(dev, JobSpec(), allowed_accounts={"caen-climat"})
    assert spec.partition == "court"
    assert spec.time_limit_s == 3600  # court's DefaultTime
    assert spec.account == "caen-climat"


def test_partition_without_default_time_gets_its_maximum() -> None:
    mini = parse_profile(MINIMAL, source="mini.toml")  # court: max 04:00:00, no default
    spec = check_job(mini, JobSpec(partition="court"), allowed_accounts={"a"})
    assert spec.time_limit_s == 4 * 3600


def test_dev_debug_gets_slurms_default_time(dev: ClusterProfile) -> None:
    # slurm.conf: PartitionName=debug DefaultTime=00:10:00 MaxTime=00:30:00
    spec = check_job(dev, JobSpec(partition="debug"), allowed_accounts={"a"})
    assert spec.time_limit_s == 600


def test_several_accounts_need_a_choice(dev: ClusterProfile) -> None:
    with pytest.raises(ProfileViolation, match="choose one of caen-bio, caen-climat"):
        check_job(dev, JobSpec(), allowed_accounts={"caen-climat", "caen-bio"})


def test_account_outside_memberships_is_refused(dev: ClusterProfile) -> None:
    with pytest.raises(
        ProfileViolation, match="may not charge account 'rouen-chimie'; your accounts: caen-climat"
    ):
        check_job(dev, JobSpec(account="rouen-chimie"), allowed_accounts={"caen-climat"})


def test_no_account_at_all(dev: ClusterProfile) -> None:
    with pytest.raises(ProfileViolation, match="no Slurm account"):
        check_job(dev, JobSpec(), allowed_accounts=set())


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            JobSpec(partition="gpu_v100"),
            "partition 'gpu_v100' does not exist on Dev cluster \\(local\\); valid partitions: court, long, "
            "debug, gpu, parallel",
        ),
        (JobSpec(time_limit_s=5 * 3600), "05:00:00 exceeds the maximum of partition 'court' \\(04:00:00\\)"),
        (JobSpec(partition="debug", time_limit_s=3600), "01:00:00 exceeds .* 'debug' \\(00:30:00\\)"),
        (JobSpec(nodes=2), "2 nodes requested; partition 'court' allows at most 1"),
        (JobSpec(cpus_per_task=33), "33 CPUs per task requested; a node of partition 'court' has 32"),
        (JobSpec(ntasks=4, cpus_per_task=16, nodes=1), "needs 64 CPUs per node"),
        (JobSpec(ntasks=40), "need 2 nodes; partition 'court' allows at most 1"),
        (
            JobSpec(mem_mb=70000),
            "70000 MB of memory per node requested; a node of partition 'court' has 64000 MB",
        ),
        (JobSpec(mem_per_cpu_mb=4000, ntasks=32), "4000 MB per CPU × 32 CPUs per node exceeds the 64000 MB"),
        (
            JobSpec(gres=(GresRequest(name="gpu", count=1),)),
            "1 GPU\\(s\\) requested but partition 'court' has no GPUs",
        ),
        (JobSpec(gres=(GresRequest(name="licence", count=1),)), "GRES 'licence' is not offered"),
    ],
)
def test_limits_are_enforced_with_plain_messages(dev: ClusterProfile, spec: JobSpec, message: str) -> None:
    with pytest.raises(ProfileViolation, match=message) as caught:
        check_job(dev, spec, allowed_accounts={"caen-climat"})
    assert caught.value.fields


def test_all_problems_are_reported_at_once(dev: ClusterProfile) -> None:
    with pytest.raises(ProfileViolation) as caught:
        check_job(dev, JobSpec(nodes=3, mem_mb=10**6, account="x"), allowed_accounts={"a"})
    assert {f.loc for f in caught.value.fields} == {("nodes",), ("mem",), ("account",)}


def test_gpu_limits_on_myria() -> None:
    myria = load_profile("myria", settings())
    ok = check_job(
        myria,
        JobSpec(partition="gpu_p100", gres=(GresRequest(name="gpu", type="p100", count=2),)),
        allowed_accounts={"p1"},
    )
    assert ok.time_limit_s == 48 * 3600
    with pytest.raises(
        ProfileViolation, match="3 GPUs per node requested; a node of partition 'gpu_p100' has 2"
    ):
        check_job(
            myria,
            JobSpec(partition="gpu_p100", gres=(GresRequest(name="gpu", count=3),)),
            allowed_accounts={"p1"},
        )
    with pytest.raises(ProfileViolation, match="GPU type 'v100' is not on partition 'gpu_p100'"):
        check_job(
            myria,
            JobSpec(partition="gpu_p100", gres=(GresRequest(name="gpu", type="v100", count=1),)),
            allowed_accounts={"p1"},
        )
    # gpu_all mixes GPU types: any type is accepted there.
    check_job(
        myria,
        JobSpec(partition="gpu_all", gres=(GresRequest(name="gpu", type="v100", count=1),)),
        allowed_accounts={"p1"},
    )
