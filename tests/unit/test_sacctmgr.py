"""sacctmgr/sshare/sacct argv builders and parsers, on real output captured from the dev cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from myriagate.domain.accounts import AddAccount, AddUser, RemoveUser, SetLimits
from myriagate.errors import InvalidRequest, SchedulerRejected
from myriagate.slurm import sacctmgr
from myriagate.slurm.usage import SacctUsage, sacct_window
from tests.fakes.fake_runner import DATA_DIR, FakeRunner
from tests.fakes.hostile import HOSTILE_STRINGS


def capture(name: str) -> bytes:
    return (DATA_DIR / f"sacctmgr_{name}.txt").read_bytes()


def test_show_assoc_parses_accounts_users_and_limits() -> None:
    assocs = sacctmgr.parse_show_assoc(capture("show_assoc"))
    accounts = {a.account: a for a in assocs if a.user is None}
    assert {"root", "unicaen", "urouen", "caen-climat", "rouen-chimie", "myriagate-ops"} <= set(accounts)
    assert accounts["caen-climat"].parent == "unicaen"
    assert accounts["unicaen"].parent == "root"
    assert accounts["root"].parent is None
    probe = accounts["mgtest-probe27708"]
    assert probe.grp_tres_mins == {"cpu": 100}
    assert probe.grp_submit_jobs == 0
    assert accounts["caen-climat"].grp_tres_mins == {} and accounts["caen-climat"].grp_submit_jobs is None
    members = {(a.account, a.user) for a in assocs if a.user is not None}
    assert {("caen-climat", "alice"), ("caen-climat", "carol"), ("rouen-chimie", "bob")} <= members
    assert {a.cluster for a in assocs} == {"devcluster"}


def test_show_assoc_skips_lines_of_another_shape() -> None:
    text = capture("show_assoc") + b"garbage line\n|||\nx|y\n"
    assert len(sacctmgr.parse_show_assoc(text)) == len(sacctmgr.parse_show_assoc(capture("show_assoc")))


def test_sshare_usage_reads_decayed_usage_and_running_minutes() -> None:
    usage = sacctmgr.parse_sshare_usage(capture("sshare_usage"))
    assert set(usage) == {"caen-climat", "mgtest-probe27708", "rouen-chimie"}
    # The probe had one running job (1 CPU, 10 min limit): nothing used yet, 10 CPU-min to come.
    assert usage["mgtest-probe27708"].used["cpu"] == 0
    assert usage["mgtest-probe27708"].running["cpu"] == 10
    assert usage["caen-climat"].used["cpu"] >= 1


def test_argv_builders() -> None:
    assert sacctmgr.add_account(AddAccount("caen-x", "unicaen", "Projet X (Caen)", "unicaen")) == (
        "sacctmgr", "-i", "add", "account", "caen-x", "parent=unicaen",
        "description=Projet X (Caen)", "organization=unicaen",
    )  # fmt: skip
    assert sacctmgr.set_limits(SetLimits("caen-x", (("cpu", 600), ("gres/gpu", 60)), 0)) == (
        "sacctmgr", "-i", "modify", "account", "where", "name=caen-x", "set",
        "GrpTRESMins=cpu=600,gres/gpu=60", "GrpSubmitJobs=0",
    )  # fmt: skip
    assert sacctmgr.set_limits(SetLimits("caen-x", submit_jobs=-1))[-1] == "GrpSubmitJobs=-1"
    assert sacctmgr.add_user(AddUser("alice", "caen-x")) == (
        "sacctmgr", "-i", "add", "user", "alice", "account=caen-x",
    )  # fmt: skip
    assert sacctmgr.remove_user(RemoveUser("alice", "caen-x")) == (
        "sacctmgr", "-i", "remove", "user", "where", "name=alice", "account=caen-x",
    )  # fmt: skip


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
def test_hostile_names_never_reach_a_command(hostile: str) -> None:
    with pytest.raises(InvalidRequest):
        AddAccount(hostile, "unicaen", "d", "unicaen")
    with pytest.raises(InvalidRequest):
        AddAccount("caen-x", hostile, "d", "unicaen")
    with pytest.raises(InvalidRequest):
        AddUser(hostile, "caen-x")
    with pytest.raises(InvalidRequest):
        RemoveUser("alice", hostile)
    with pytest.raises(InvalidRequest):
        SetLimits(hostile, submit_jobs=0)
    with pytest.raises(InvalidRequest):
        SetLimits("caen-x", ((hostile, 1),))
    with pytest.raises(InvalidRequest):
        sacctmgr.sshare_usage([hostile])
    with pytest.raises(InvalidRequest):
        sacctmgr.remove_account(hostile)


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
def test_hostile_descriptions_fall_back_to_the_account_name(hostile: str) -> None:
    argv = sacctmgr.add_account(AddAccount("caen-x", "unicaen", hostile, "unicaen"))
    descr = argv[6]
    assert descr.startswith("description=")
    assert "=" not in descr.removeprefix("description=")
    assert not any(c in descr for c in '\n\t\x00\x1f$`;|&"')


@pytest.mark.parametrize("minutes", [-2, 1.5, True, "10"])
def test_limits_must_be_whole_minutes(minutes: object) -> None:
    with pytest.raises(InvalidRequest):
        SetLimits("caen-x", (("cpu", minutes),))  # type: ignore[arg-type]


def test_adapter_runs_builders_and_surfaces_sacctmgr_refusals() -> None:
    runner = FakeRunner()
    runner.reply("sacctmgr", capture("show_assoc"), when=lambda argv: "show" in argv)
    runner.reply("sshare", capture("sshare_usage"))
    runner.reply(
        "sacctmgr",
        stderr=capture("remove_active"),
        returncode=1,
        when=lambda argv: "remove" in argv,
    )
    admin = sacctmgr.SacctmgrAccounts(runner)
    assert len(admin.associations()) == 15
    assert admin.usage(["caen-climat"])["caen-climat"].used["cpu"] >= 1
    assert runner.argvs("sshare")[0][-2:] == ("-o", "Account,User,GrpTRESRaw,TRESRunMins")
    with pytest.raises(SchedulerRejected, match="Job\\(s\\) active"):
        admin.run(admin.command(RemoveUser("alice", "mgtest-probe27708")))


def test_sacct_window_is_in_cluster_time_and_keeps_only_jobs_ended_inside() -> None:
    paris = ZoneInfo("Europe/Paris")
    argv = sacct_window(
        ["b", "a"], datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), paris
    )
    assert "--accounts=a,b" in argv and "--allusers" in argv and "--duplicates" in argv
    assert "--starttime=2026-11-01T01:00:00" in argv and "--endtime=2026-12-01T01:00:00" in argv
    runner = FakeRunner().reply("sacct", capture("sacct_window"))
    reader = SacctUsage(runner)
    start, end = datetime(2026, 11, 28, 17, 30, tzinfo=UTC), datetime(2026, 11, 28, 17, 40, tzinfo=UTC)
    jobs = reader.ended_jobs(["caen-climat", "rouen-chimie", "mgtest-probe27708"], start, end)
    assert jobs and all(j.ended_at is not None and start <= j.ended_at < end for j in jobs)
    assert {j.account for j in jobs} <= {"caen-climat", "rouen-chimie"}  # the probe ended at 17:58
    everything = reader.ended_jobs(["caen-climat"], start, datetime(2026, 11, 28, 18, 0, tzinfo=UTC))
    probe = [j for j in everything if j.account == "mgtest-probe27708"]
    assert len(probe) == 1 and probe[0].elapsed_s == 19 and probe[0].alloc_mem_mb == 100
