"""pyslurm releases told apart: sbatch options -> JobSubmitDescription attributes, per release."""

from __future__ import annotations

import pytest

from myriagate.domain.sbatch_options import table
from myriagate.errors import ConfigError, SchedulerRejected
from myriagate.slurm import pyslurm_dialects
from myriagate.slurm.pyslurm_dialects import DIALECTS, for_release

V22 = for_release((22, 5))
HOME = "/home/alice"


def attrs(*args: str, dialect: pyslurm_dialects.Dialect = V22) -> dict[str, object]:
    return dialect.submit_attributes(args, home=HOME, login="alice")


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: f"{d.release[0]}.{d.release[1]}")
def test_every_accepted_option_is_converted_or_refused_by_name(dialect: pyslurm_dialects.Dialect) -> None:
    # A new option in the table must be decided here too, never sent as an unknown attribute.
    for option in table.ACCEPTED:
        assert (
            option.name in dialect.options or option.name in dialect.refused or option.name in {"export"}
        ), option.name


def test_release_22_5_takes_minutes_as_int_and_time_strings_as_written() -> None:
    assert attrs("--time=30")["time_limit"] == 30
    assert attrs("--time=1-02:03:04")["time_limit"] == "1-02:03:04"
    assert attrs("--time-min=00:30:00")["time_limit_min"] == "00:30:00"


def test_numbers_and_flags_get_python_types() -> None:
    got = attrs("--ntasks=4", "--cpus-per-task=2", "--nice=10", "--requeue", "--kill-on-invalid-dep=no")
    assert (got["ntasks"], got["cpus_per_task"], got["nice"]) == (4, 2, 10)
    assert got["is_requeueable"] is True and got["kill_on_invalid_dependency"] is False
    assert attrs("--no-requeue")["is_requeueable"] is False


@pytest.mark.parametrize(
    ("arg", "sharing"),
    [
        ("--exclusive", "no"),
        ("--exclusive=user", "user"),
        ("--exclusive=mcs", "mcs"),
        ("--oversubscribe", "yes"),
    ],
)
def test_exclusive_and_oversubscribe_are_one_attribute(arg: str, sharing: str) -> None:
    assert attrs(arg)["resource_sharing"] == sharing


def test_gpus_per_node_joins_gres() -> None:
    assert attrs("--gres=licence:1", "--gpus-per-node=2")["gres_per_node"] == "licence:1,gpu:2"
    assert attrs("--gpus-per-node=p100:1")["gres_per_node"] == "gpu:p100:1"


@pytest.mark.parametrize(
    "arg", ["--signal=B:USR1@60", "--switches=1@10", "--mem-per-gpu=4G", "--hint=compute_bound"]
)
def test_options_pyslurm_22_5_would_drop_or_crash_on_are_refused_by_name(arg: str) -> None:
    with pytest.raises(SchedulerRejected, match=arg.split("=")[0]):
        attrs(arg)


def test_unknown_option_is_refused_not_passed() -> None:
    with pytest.raises(SchedulerRejected, match="--wckey"):
        attrs("--wckey=x")


def test_ignore_pbs_changes_nothing_and_hold_sets_priority_zero() -> None:
    got = attrs("--ignore-pbs", "--hold")
    assert got["priority"] == 0
    assert "ignore_pbs" not in got


def test_job_starts_in_home_unless_chdir() -> None:
    assert attrs()["working_directory"] == HOME
    assert attrs("--chdir=/home/alice/run")["working_directory"] == "/home/alice/run"


def test_the_job_gets_the_logins_environment_never_the_gateways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYRIAGATE_SECRET_KEY", "gateway-secret")
    got = attrs("--export=ALL,OMP_NUM_THREADS=4")
    assert got["get_user_environment"] is True
    assert got["environment"] == {"HOME": HOME, "USER": "alice", "LOGNAME": "alice", "OMP_NUM_THREADS": "4"}
    assert attrs()["environment"] == {"HOME": HOME, "USER": "alice", "LOGNAME": "alice"}
    assert attrs("--export=NONE")["environment"] == {"HOME": HOME, "USER": "alice", "LOGNAME": "alice"}


def test_a_bare_export_name_would_copy_the_gateways_value_so_it_is_refused() -> None:
    with pytest.raises(SchedulerRejected, match="PATH"):
        attrs("--export=ALL,PATH")


def test_mail_types_none_sets_nothing_and_invalid_depend_is_refused() -> None:
    assert "mail_types" not in attrs("--mail-type=NONE")
    assert attrs("--mail-type=END,FAIL")["mail_types"] == "END,FAIL"
    with pytest.raises(SchedulerRejected):
        attrs("--mail-type=INVALID_DEPEND")


def test_releases_pick_their_family_and_unknown_ones_are_a_config_error() -> None:
    assert for_release((22, 5)).release == (22, 5)
    assert for_release((25, 11)).release == (25, 11)
    assert for_release((25, 5)).release == (25, 11)
    with pytest.raises(ConfigError, match=r"pyslurm 23\.2"):
        for_release((23, 2))


def test_gpus_allocated_reads_gres_or_tres() -> None:
    from types import SimpleNamespace

    assert pyslurm_dialects.gpus_allocated(SimpleNamespace(gres={"gpu:p100": 2, "licence": 1})) == 2
    assert pyslurm_dialects.gpus_allocated(SimpleNamespace(gres=None, tres_allocated={"gres/gpu": 1})) == 1
    assert pyslurm_dialects.gpus_allocated(object()) == 0


def test_task_zero_of_an_array_is_told_from_folded_pending_tasks_in_22_5() -> None:
    from types import SimpleNamespace

    task_zero = SimpleNamespace(array_id=3107, array_task_id=None, array_tasks_waiting=None)
    folded = SimpleNamespace(array_id=3107, array_task_id=None, array_tasks_waiting="1-3")
    task_two = SimpleNamespace(array_id=3107, array_task_id=2, array_tasks_waiting=None)
    assert V22.array_task_id(task_zero) == 0
    assert V22.array_task_id(folded) is None
    assert V22.array_task_id(task_two) == 2
    # 25.x reads task 0 as 0: a missing id there means no task.
    assert for_release((25, 11)).array_task_id(task_zero) is None
