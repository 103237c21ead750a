"""The sbatch options attacked: by a project member writing scripts, and by a hostile API client.

Each test here failed before its fix. What they pin: an option's value reaches sbatch as one
argv element meaning only what the option table says, a refused option stays refused whatever
it is called, ``--dependency`` never names anybody else's job, and ``--mail-user`` is always
the owner's address as recorded.
"""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from myriagate.cli.main import app as cli_app
from myriagate.db.models import User
from myriagate.domain.directives import merge, parse_directives
from myriagate.domain.jobs import JobSpec
from myriagate.domain.sbatch_options import dependency, kinds, names, table
from myriagate.domain.sbatch_options.kinds import ReadContext
from myriagate.domain.sbatch_options.spec import OptionSpec
from myriagate.domain.states import JobState
from myriagate.errors import InvalidRequest, JobSpecInvalid, ProfileViolation, UnsafeValue
from myriagate.profiles.validation import check_job
from myriagate.scripts.render import sbatch_args
from myriagate.services.submission.submit import SubmitRequest, validate_submission
from myriagate.slurm import commands
from myriagate.web.api.submit_schemas import JobSubmit
from myriagate.web.pages.submit_fields import posted_options
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.hostile import HOSTILE_STRINGS
from tests.fakes.profiles import dev_profile
from tests.unit.test_dependencies import add_job, sent_dependency, submit


# --- --dependency -----------------------------------------------------------------------
def test_digits_that_are_also_a_prefix_of_ones_job_never_reach_sbatch_as_a_slurm_id(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    bob: User,
    clock: FakeClock,
) -> None:
    # One gateway id in 40 starts with 8 decimal digits: alice submits until hers does, then
    # names it by those digits. They are also bob's Slurm job id: sbatch must get hers.
    add_job(session, bob, clock, JobState.RUNNING, slurm_job_id="12345678")
    mine = add_job(session, alice, clock, JobState.PENDING, slurm_job_id="555",
                   job_id=uuid.UUID("12345678-0000-4000-8000-000000000001"))  # fmt: skip
    job = submit(session, backends, alice, clock, dependency="afterok:12345678")
    assert sent_dependency(fake_cluster, job) == f"afterok:{mine.slurm_job_id}"


def test_digits_naming_ones_job_not_yet_in_slurm_make_the_job_wait(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, bob: User, clock: FakeClock
) -> None:
    add_job(session, bob, clock, JobState.RUNNING, slurm_job_id="87654321")
    staging = add_job(session, alice, clock, JobState.STAGING_IN,
                      job_id=uuid.UUID("87654321-0000-4000-8000-000000000001"))  # fmt: skip
    job = submit(session, backends, alice, clock, dependency="after:87654321+5")
    assert job.state is JobState.SUBMITTING and job.slurm_job_id is None  # waits: never sent
    assert f"--dependency=after:{staging.id}+5" in job.sbatch_args


@pytest.mark.parametrize(
    "written",
    ["afterok:{theirs}_4", "afterok:{mine}?afterok:{theirs}", "afterok:{mine},afterany:{theirs}",
     "after:{theirs}+5", "afterok:{mine}:{theirs}", "aftercorr:{theirs}", "afterok:0{theirs}"],
)  # fmt: skip
def test_another_users_job_is_refused_in_any_position_and_form(
    written: str,
    session: Session,
    backends: FakeSlurmBackendFactory,
    alice: User,
    bob: User,
    clock: FakeClock,
) -> None:
    theirs = add_job(session, bob, clock, JobState.RUNNING, slurm_job_id="4242")
    mine = add_job(session, alice, clock, JobState.RUNNING, slurm_job_id="4343")
    with pytest.raises(JobSpecInvalid, match=r"no job of yours with id '0?4242"):
        submit(session, backends, alice, clock,
               dependency=written.format(mine=mine.slurm_job_id, theirs=theirs.slurm_job_id))  # fmt: skip


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements run on ``session``'s connection meanwhile."""
    seen: list[str] = []
    engine = session.get_bind()

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_a_dependency_naming_thousands_of_jobs_is_refused_before_any_lookup(
    session: Session, backends: FakeSlurmBackendFactory, alice: User, clock: FakeClock
) -> None:
    # One #SBATCH line (or one API field) of 140 KB: 20,000 ids took 20 s of server time (and
    # 2,000 ids, 14 KB, 2 s); a value that long is now refused for its length alone.
    ids = ":".join(str(100000 + i) for i in range(2000))
    with statements(session) as seen, pytest.raises(JobSpecInvalid) as caught:
        submit(session, backends, alice, clock, dependency=f"afterok:{ids}")
    assert "--dependency names 2000 jobs; at most 256 may be named" in caught.value.detail
    assert len(seen) < 10  # the user's accounts, not one query per id
    with pytest.raises(JobSpecInvalid, match="names 257 jobs"):
        dependency.parse("?".join(["singleton"] * 200 + ["afterok:1"] * 57))
    assert len(dependency.parse(":".join(["afterany", *map(str, range(1, 257))])).refs) == 256


# --- --nodelist / --exclude ---------------------------------------------------------------
@pytest.mark.parametrize("value", ["vm[" + ",".join(["0-99998"] * 127) + "]", "".join(["n[0-99998]"] * 100)])
@pytest.mark.parametrize("option", ["nodelist", "exclude"])
def test_a_hostlist_of_many_huge_ranges_is_refused_without_being_expanded(option: str, value: str) -> None:
    # 127 ranges of 99,999 names fit the reader's 1,024 characters (or 100 groups of them in
    # one name): 12.7 million names, about 7 s and 900 MB per request, were built before
    # their count was checked.
    spec = merge([], {option: value})
    tracemalloc.start()
    try:
        with pytest.raises(ProfileViolation, match="names more than 100000 hosts"):
            check_job(dev_profile(), spec, allowed_accounts=["caen-climat"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000


# --- --export -----------------------------------------------------------------------------
@pytest.mark.parametrize("written", ["FOO,all", "NONE,ALL", "FOO=1,None", "ALL,nil"])
def test_export_keywords_are_only_read_first(written: str) -> None:
    # sbatch 22.05 reads ALL, NONE and NIL anywhere in the list and in any case (measured on the
    # dev cluster: --export=FOO,all and --export=NONE,ALL pass the whole environment), so the
    # gateway must not take them for variables named "all" or "nil".
    with pytest.raises(JobSpecInvalid, match="is not a variable; ALL or NONE may only come first"):
        merge(parse_directives(f"#!/bin/bash\n#SBATCH --export={written}\ntrue\n"))
    assert merge([], {"export": "all,FOO=1,ALL_DONE=2"}).export == "ALL,FOO=1,ALL_DONE=2"


# --- --mail-user --------------------------------------------------------------------------
def mail_args(user: User, address: str) -> tuple[list[str], tuple[str, ...]]:
    script = f"#!/bin/bash\n#SBATCH --mail-type=END\n#SBATCH --mail-user={address}\ntrue\n"
    request = SubmitRequest(script_text=script, cluster=CLUSTER)
    result = validate_submission(profile=dev_profile(), user=user, request=request)
    return [a for a in result.script.sbatch_args if a.startswith("--mail-user")], result.notices


@pytest.mark.parametrize("written", ["ALICE@UNICAEN.FR", "Alice@unicaen.fr", "alice@Unicaen.Fr"])
def test_ones_own_address_in_another_case_reaches_sbatch_as_recorded(
    session: Session, alice: User, written: str
) -> None:
    # A mailbox's local part may be case-sensitive: only the address on record is sure to be hers.
    alice.email = "alice@unicaen.fr"
    assert mail_args(alice, written) == (["--mail-user=alice@unicaen.fr"], ())


def test_an_address_starting_with_a_dash_never_reaches_sbatch(session: Session, alice: User) -> None:
    # Slurm hands --mail-user to MailProg as an argument (mail -s <subject> <user>): a leading
    # dash would be read as one of mail's options, run as SlurmUser.
    with pytest.raises(UnsafeValue, match="is not an e-mail address"):
        merge(parse_directives("#!/bin/bash\n#SBATCH --mail-user=-Eshell@unicaen.fr\ntrue\n"))
    alice.email = "-Eshell@unicaen.fr"  # on record, whoever wrote it there
    args, notices = mail_args(alice, "labmate@univ-rouen.fr")
    assert args == [] and "you have no e-mail address on record" in notices[0]


# --- option names as sbatch's getopt reads them ---------------------------------------------
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--Partition=court", "--Partition is not an sbatch option; did you mean --partition?"),
        ("--TIME=10", "--TIME is not an sbatch option; did you mean --time?"),
        ("--SHARE", "--SHARE is not an sbatch option"),
        ("--UID=0", "--UID is not an sbatch option"),
        ("-u", "-u is not an sbatch option"),
    ],
)
def test_names_sbatch_would_not_read_are_refused_as_sbatch_refuses_them(line: str, message: str) -> None:
    # getopt_long is case-sensitive: sbatch 22.05 answers "unrecognized option '--Partition=court'",
    # and has no -u (only --usage). The gateway read both, so a script it accepted failed with sbatch.
    with pytest.raises(UnsafeValue) as caught:
        parse_directives(f"#!/bin/bash\n#SBATCH {line}\ntrue\n")
    assert caught.value.fields[0].message == message


# --- the argv -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"), [("exclusive", "user,uid=0"), ("requeue", "--uid=0"), ("oversubscribe", "1")]
)
def test_an_optional_value_is_re_read_before_it_reaches_the_argv(field: str, value: str) -> None:
    # sbatch_args promises that a JobSpec built by hand (model_copy skips pydantic's checks)
    # cannot smuggle what the table refuses: flags and --exclusive's value were written unread.
    spec = merge([], {"time": "10"}).model_copy(update={field: value})
    with pytest.raises((JobSpecInvalid, UnsafeValue)):
        sbatch_args(spec)


# --- every option, every hostile string, every way in -------------------------------------
EXTRA_HOSTILE = [
    "ALL,LD_PRELOAD=/tmp/x.so",
    "all,ld_preload=/tmp/x.so",
    "ALL,Ld_Preload=/x",
    "NONE,ALL",
    "USR1@60,uid=0",
    "now+1hour --uid=0",
    "matlab:1,uid=0",
    "broadwell&ib|(avx2)*2;id",
    "vm,../../etc",
    "1@1:00:00,uid=0",
    "block,Pack --uid=0",
    "plane=2=3",
    "user=root",
    "afterok:1?afterok:2,afterok:3",
    "afterok:1+5",
    "after:$(id)",
    "x\u00a0y",
    "--",
    "-",
    "FOO,all",
    "-oQueue@unicaen.fr",
    "-Eshell@unicaen.fr",
]


def _export_means_what_it_reads(sent: str) -> bool:
    """sbatch reads ALL/NONE/NIL anywhere and in any case; only the first item may be one, and
    no variable may be one that changes how the job starts, in any case."""
    first, *rest = sent.split(",")
    names = [
        item.partition("=")[0].upper() for item in ([] if first in {"ALL", "NONE", "NIL"} else [first]) + rest
    ]
    return all(n not in {"ALL", "NONE", "NIL"} and not n.startswith(("LD_", "BASH_")) for n in names)


# What sbatch (or what it hands the value to) reads beyond the value's syntax.
MEANS: dict[str, Callable[[str], bool]] = {
    "export": _export_means_what_it_reads,
    "mail-user": lambda sent: not sent.startswith("-"),  # MailProg's argument, never an option
}


def written_forms(option: str, value: str) -> list[tuple[str, JobSpec | InvalidRequest]]:
    """(how, JobSpec or the error) for ``value`` given to ``option`` from a script and as an override."""
    escaped = "".join("\\" + c for c in value)  # sbatch's reader: a backslash keeps the next character
    script = f"#!/bin/bash\n#SBATCH --{option}={escaped}\ntrue\n"
    builds: dict[str, Callable[[], JobSpec]] = {
        "script": lambda: merge(parse_directives(script), home="/home/alice"),
        "override": lambda: merge([], {option: value}, home="/home/alice"),
    }
    results: list[tuple[str, JobSpec | InvalidRequest]] = []
    for how, build in builds.items():
        try:
            results.append((how, build()))
        except InvalidRequest as exc:
            results.append((how, exc))
    return results


@pytest.mark.parametrize("option", [o for o in table.ACCEPTED], ids=lambda o: o.name)
def test_a_hostile_value_is_refused_or_reaches_sbatch_as_one_element_meaning_what_it_reads(
    option: OptionSpec,
) -> None:
    assert option.kind is not None
    for value in HOSTILE_STRINGS + EXTRA_HOSTILE:
        for how, outcome in written_forms(option.name, value):
            if isinstance(outcome, InvalidRequest):
                assert outcome.detail, (option.name, how, value)  # a clear message
                continue
            argv = sbatch_args(outcome)
            commands.sbatch_options(argv)  # long options only, printable, one element each
            mine = [a for a in argv if a == f"--{option.name}" or a.startswith(f"--{option.name}=")]
            assert len(mine) == 1, (option.name, how, value, argv)
            assert len(argv) == 2, (option.name, how, value, argv)  # the option and --ignore-pbs
            sent = mine[0].partition("=")[2]
            if option.kind.bare is None and option.name not in ("chdir", "gres"):
                # What sbatch reads back is what the gateway read: the value is canonical.
                again = option.kind.read(sent, ReadContext(home="/home/alice"))
                assert option.kind.write(again) == sent, (option.name, how, value, sent)
            assert MEANS.get(option.name, bool)(sent or "flag"), (option.name, how, value, sent)


# --- numbers no Slurm takes ------------------------------------------------------------------
HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("time", HUGE),
        ("time", f"1-{HUGE}"),
        ("time-min", f"1:{HUGE}"),
        ("mem", HUGE),
        ("mem-per-cpu", f"{HUGE}G"),
        ("mem-per-gpu", HUGE),
        ("gres", f"gpu:{HUGE}"),
        ("gres", f"gpu:p100:{HUGE}"),
        ("switches", f"1@{HUGE}"),
        ("array", HUGE),
        ("array", f"0-{HUGE}"),
        ("array", "0-99999999999999999999"),
        ("array", "1-10:0"),
        ("array", "0-4000001"),
        ("array", "9-1"),
    ],
)
def test_a_number_no_slurm_takes_is_refused_with_a_message_not_a_crash(option: str, value: str) -> None:
    # Python refuses int() past 4,300 digits (ValueError) and range() past 2**63 or with a step
    # of 0: each was a 500 "bug" answer to an API request, with its traceback in the log.
    with pytest.raises(JobSpecInvalid) as caught:
        spec = merge([], {"partition": "gpu", option: value})
        check_job(dev_profile(), spec, allowed_accounts=["caen-climat"])
    assert len(caught.value.detail) < 300  # the value is not echoed 5,000 digits long


# --- the command line's length -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("mail-type", ",".join(["END"] * 40000)),
        ("export", "ALL," + ",".join(f"V{i}=x" for i in range(30000))),
        ("licenses", ",".join(["matlab"] * 30000)),
        ("array", ",".join(map(str, range(30000)))),
    ],
)
def test_a_value_too_long_for_the_login_shell_is_refused(option: str, value: str) -> None:
    # Measured over SSH on the dev cluster: a 160 KB --mail-type made the login's shell fail to
    # run the command (past the kernel's 128 KiB per argument), an uncertain submission that
    # the worker would look up and send again, never a refusal.
    script = f"#!/bin/bash\n#SBATCH --{option}={value}\ntrue\n"
    with pytest.raises(JobSpecInvalid, match=f"--{option}: {len(value)} characters; at most 16384"):
        merge(parse_directives(script))
    with pytest.raises(JobSpecInvalid, match=f"--{option}: {len(value)} characters; at most 16384"):
        merge([], {option: value})


def test_the_longest_dependency_fits_the_value_length() -> None:
    longest = "after:" + ":".join(f"{uuid.UUID(int=i)}+999999" for i in range(256))
    assert merge([], {"dependency": longest}).dependency == longest


# --- refused options, whatever the way in ----------------------------------------------------
# myriagate submit's own options, named like sbatch's on purpose (docs/cli.md): --cluster picks
# the gateway's cluster, --wait and --parsable follow the job and print its id; --help is help.
GATEWAY_OWN_CLI = {"cluster", "wait", "parsable", "help"}


def refused_or_not_offered() -> list[str]:
    accepted = {o.name for o in table.ACCEPTED} | set(table.ALIASES)
    return sorted(n for n in names.SBATCH_LONG_OPTIONS if n not in accepted)


def test_no_refused_option_has_an_api_field_a_cli_option_or_a_form_field(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\ntrue\n")
    refused = refused_or_not_offered()
    assert {"uid", "gid", "comment", "wrap", "export-file", "get-user-env", "propagate"} <= set(refused)
    for name in refused:
        field = name.replace("-", "_")
        with pytest.raises(ValidationError, match="is not an option here"):
            JobSubmit.model_validate({"script": "#!/bin/bash\ntrue\n", "options": {field: "x"}})
        assert posted_options({field: "x", name: "x"}) == {}
        if name in GATEWAY_OWN_CLI:
            continue
        result = CliRunner().invoke(cli_app, ["submit", f"--{name}=x", str(script)])
        assert result.exit_code == 2 and "No such option" in result.output, name


@pytest.mark.parametrize(
    ("option", "value"),
    [("licenses", "matlab:1\uff14"), ("array", "0-1\uff14"), ("gpus", "p100:1\uff12"),
     ("signal", "USR1@6\uff10"), ("switches", "1@1\uff10"), ("begin", "now+1\u0664hours"),
     ("nodes", "\uff11"), ("time", "\u0661\u0660"), ("mem", "1024\u212a"), ("mem-per-cpu", "1\u212aB"),
     ("begin", "now+1\u017feconds"), ("mail-type", "\u0131nvalid_depend")],
)  # fmt: skip
def test_digits_and_letters_outside_ascii_are_refused_outside_names(option: str, value: str) -> None:
    # Python's \d and int() read fullwidth and Arabic-Indic digits, and upper() / IGNORECASE
    # fold the Kelvin sign to K and the long s to S; sbatch 22.05 refused each of these after
    # the gateway had accepted it but --switches=1@1０ (read as 1 minute), and --mem=1024K
    # (Kelvin) was a KeyError in the memory reader: a 500 answer.
    with pytest.raises(JobSpecInvalid, match=r"write it in plain ASCII \(digits 0-9, letters a-z\)"):
        merge([], {option: value})
    assert merge([], {"job-name": "run-\u0664", "output": "out-\uff14.txt"}).job_name == "run-\u0664"


def test_a_signal_reaches_sbatch_as_the_gateway_matched_it() -> None:
    # The reader matched the value in capitals but sent it as written: Python's upper() makes
    # the long s (U+017F) an S, so "ſIGTERM" passed as SIGTERM and reached sbatch, which refused
    # it (merge now refuses non-ASCII first; the reader alone is what sbatch_args re-reads with).
    assert kinds.signal("\u017fIGTERM", ReadContext()) == "SIGTERM"
    assert "--signal=B:USR1@60" in sbatch_args(merge([], {"signal": "b:usr1@60"}))
