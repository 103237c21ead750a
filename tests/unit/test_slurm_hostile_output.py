"""No free text a researcher controls can forge a record the gateway parses.

Real outputs captured from the dev cluster with hostile jobs (``capture_hostile.py``:
``hostile_*.out``, ``jobs_hostile.json``) and generated hostile values (hypothesis: line
breaks, ``\\x1f``, ``\\x1e``, ``|``, NUL-free binary, very long text, whole forged records) put
where Slurm prints free text: a reason, a comment. A parser either reads the very records
Slurm printed, or refuses the whole answer (AmbiguousOutput); never a record of job 99999.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from myriagate.errors import SchedulerUnavailable
from myriagate.slurm import commands, parse, sacctmgr, usage
from myriagate.slurm.cli_backend import AMBIGUOUS_QUERIES_MAX, SlurmCliBackend, accounted_jobs
from tests.fakes.fake_runner import DATA_DIR, FakeRunner, load_capture

SEP = commands.SEP
BSEP = SEP.encode()
JOBS: dict[str, str] = json.loads((DATA_DIR / "jobs_hostile.json").read_text())
FORGED = "99999"
USAGE = [FORGED, FORGED, "COMPLETED", "0:0", "3600000", "32", "1", "billing=32,cpu=32,mem=1000M,node=1",
         "court", "caen-climat", "alice", "2026-12-04T20:27:18", "2026-12-04T20:28:18"]  # fmt: skip
# A finished caen-climat job 99999 in the shape of every query the gateway makes.
FORGERIES = [
    SEP.join(USAGE),
    SEP.join([*USAGE, "mg:forged"]),
    SEP.join([FORGED, "mg:forged", FORGED]),
    SEP.join([FORGED, FORGED, FORGED, "N/A", "COMPLETED", "None", *USAGE[11:], USAGE[12], "vm", FORGED]),
    SEP.join([FORGED, FORGED, "COMPLETED", "0:0", "None", *USAGE[11:], USAGE[12], "vm", FORGED]),
]
PIECES = ["\n", "\r\n", SEP, "\x1e", "|", "\x85", "None", "mg:forged", FORGED, *JOBS.values(), *FORGERIES]

# NUL-free text of any code point, pieces of records glued by separators, NUL-free binary
# (Slurm prints bytes as they are), and very long values ending in a forged record.
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)  # not encodable as UTF-8
HOSTILE = st.one_of(
    st.text(
        alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=SURROGATES), max_size=80
    ),
    st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=10).map("".join),
    st.binary(max_size=80).filter(lambda b: b"\x00" not in b),
    st.integers(1000, 200_000).map(lambda n: "A" * n + "\n" + FORGERIES[0]),
)
FULL_FORGERY = "innocent\n" + "\n".join(FORGERIES)
_ONE = load_capture("hostile_sacct_comment_one")[0].decode()
# bob's comment as he gave it: the capture is "<id><SEP><comment><SEP><id>\n".
FORGED_COMMENT = _ONE[len(JOBS["bob_forged"]) + 1 : -(len(JOBS["bob_forged"]) + 2)]


def raw(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def captured(name: str) -> bytes:
    return load_capture(name)[0]


def clean_lines(name: str, width: int) -> bytes:
    """The lines of a capture that are whole framed records on their own (the hostile ones out)."""
    keep = [
        line
        for line in captured(name).split(b"\n")
        if len(f := line.split(BSEP)) == width and f[0] == f[-1] and f[0] != FORGED.encode()
    ]
    return b"".join(line + b"\n" for line in keep)


def with_field(text: bytes, line_index: int, field: int, value: str | bytes) -> bytes:
    """``text`` with one field of one line replaced by ``value``, as Slurm would print it."""
    lines = text.rstrip(b"\n").split(b"\n")
    fields = lines[line_index].split(BSEP)
    fields[field] = raw(value)
    lines[line_index] = BSEP.join(fields)
    return b"\n".join(lines) + b"\n"


def check_framed(
    text: bytes,
    index: int,
    field: int,
    value: str | bytes,
    parse_fn: Callable[[bytes], list[tuple[str, object]]],
) -> None:
    """Either the answer is refused whole, or it is exactly the records Slurm printed."""
    clean = parse_fn(text)
    hostile = with_field(text, index % len(clean), field, value)
    try:
        got = parse_fn(hostile)
    except parse.AmbiguousOutput:
        return  # the backend asks again about fewer jobs
    assert b"\n" not in raw(value), "a value holding a line break was read as records"
    assert [key for key, _ in got] == [key for key, _ in clean]
    assert FORGED not in {key for key, _ in got}
    changed = [key for (key, a), (_, b) in zip(got, clean, strict=True) if a != b]
    assert len(changed) <= 1


# --- squeue and sacct status: the reason is free text, the lines are framed by the job id -----
def squeue_rows(text: bytes) -> list[tuple[str, object]]:
    return [(r.slurm_job_id, (r.state, r.reason, r.started_at)) for r in parse.parse_squeue_status(text)]


def sacct_rows(text: bytes) -> list[tuple[str, object]]:
    return [(r.slurm_job_id, (r.state, r.exit_code, r.reason)) for r in parse.parse_sacct_status(text)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=HOSTILE, index=st.integers(0, 5))
@example(value="None\n" + FORGERIES[3], index=0)
@example(value=f"None{SEP}x{SEP}x{SEP}x{SEP}vm{SEP}{JOBS['bob_forged']}\n{FORGERIES[3]}", index=0)
def test_a_hostile_reason_in_squeue_never_makes_a_record(value: str | bytes, index: int) -> None:
    check_framed(captured("hostile_squeue_status"), index, 5, value, squeue_rows)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=HOSTILE, index=st.integers(0, 5))
@example(value="None\n" + FORGERIES[4], index=0)
def test_a_hostile_reason_in_sacct_never_makes_a_record(value: str | bytes, index: int) -> None:
    check_framed(captured("hostile_sacct_status"), index, 4, value, sacct_rows)


# --- tags and comments: the comment is free text, framed by the job id -------------------------
def tag_rows(text: bytes) -> list[tuple[str, object]]:
    return [(f"{i}:{n}", comment) for n, (i, comment) in enumerate(parse.parse_tags(text))]


def comment_rows(text: bytes) -> list[tuple[str, object]]:
    return list(parse.parse_comments(text).items())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=HOSTILE, index=st.integers(0, 4), shape=st.sampled_from(["hostile_squeue_tags", "sacct_tags"]))
@example(value="x\n" + SEP.join([FORGED, "mg:cap-hostile-target", FORGED]), index=0, shape="sacct_tags")
def test_a_hostile_comment_in_a_tag_lookup_never_makes_a_record(
    value: str | bytes, index: int, shape: str
) -> None:
    check_framed(clean_lines(shape, 3), index, 1, value, tag_rows)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=HOSTILE, index=st.integers(0, 4))
@example(value=FULL_FORGERY, index=0)
def test_a_hostile_comment_in_the_comment_query_never_makes_a_record(value: str | bytes, index: int) -> None:
    check_framed(clean_lines("hostile_sacct_comments", 3), index, 1, value, comment_rows)


@settings(max_examples=300, deadline=None)
@given(value=HOSTILE)
@example(value=FULL_FORGERY)
def test_the_comment_of_one_job_is_read_whole_whatever_it_holds(value: str | bytes) -> None:
    job = JOBS["bob_forged"]
    stdout = f"{job}{SEP}".encode() + raw(value) + f"{SEP}{job}\n".encode()

    assert parse.parse_one_comment(stdout, job) == raw(value).decode("utf-8", "replace")


def test_real_hostile_outputs_are_refused_whole_or_read_exactly() -> None:
    with pytest.raises(parse.AmbiguousOutput):  # alice's comment "x\n99999<SEP>mg:…<SEP>99999"
        parse.parse_tags(captured("hostile_squeue_tags"))
    with pytest.raises(parse.AmbiguousOutput):
        parse.parse_tags(captured("hostile_sacct_tags"))
    with pytest.raises(parse.AmbiguousOutput):  # bob's comment, innocent + forged records
        parse.parse_comments(captured("hostile_sacct_comments"))
    assert (
        parse.parse_one_comment(captured("hostile_sacct_comment_one"), JOBS["bob_forged"]) == FORGED_COMMENT
    )
    # Job names and work dirs are not asked for at all: the poll reads what was really there.
    rows = {r.slurm_job_id: r for r in parse.parse_squeue_status(captured("hostile_squeue_status"))}
    tasks = {f"{JOBS['target_array']}_0", f"{JOBS['target_array']}_1"}
    assert set(rows) == {
        JOBS["bob_forged"],
        JOBS["sep_comment"],
        JOBS["newline_comment"],
        JOBS["newline_name"],
        *tasks,
    }
    assert {r.slurm_job_id for r in parse.parse_sacct_status(captured("hostile_sacct_status"))} == set(rows)


# --- the sweep: no free-text field at all; every field checked for its shape ------------------
FREE_TEXT = {"Comment", "WorkDir", "JobName", "Reason", "AdminComment", "SystemComment", "Constraints",
             "%k", "%Z", "%j", "%r", "%R", "%o", "%E"}  # fmt: skip


@pytest.mark.parametrize(
    "fields",
    [commands.SQUEUE_STATUS_FIELDS, commands.SQUEUE_TAG_FIELDS, commands.SACCT_STATUS_FIELDS,
     commands.SACCT_USAGE_FIELDS, commands.SACCT_TAG_FIELDS, commands.SACCT_COMMENT_FIELDS,
     sacctmgr.ASSOC_FIELDS, sacctmgr.SSHARE_FIELDS],
    ids=["squeue_status", "squeue_tags", "sacct_status", "sacct_usage", "sacct_tags", "sacct_comments",
         "sacctmgr_assoc", "sshare"],
)  # fmt: skip
def test_a_query_asks_no_free_text_or_frames_it_by_the_job_id(fields: tuple[str, ...]) -> None:
    if FREE_TEXT & set(fields):
        assert fields[0] == fields[-1] and fields[0] in ("%i", "JobID")
        assert len(FREE_TEXT & set(fields)) == 1


def test_the_sweep_and_reconciliation_ask_for_usage_fields_only() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    sweep = commands.sacct_by_accounts(["caen-climat"], "2026-01-01T00:00:00", "2026-01-02T00:00:00")
    for argv in (sweep, usage.sacct_window(["caen-climat"], start, end)):
        (fmt,) = [a for a in argv if a.startswith("--format=")]
        assert fmt.removeprefix("--format=").split(",") == list(commands.SACCT_USAGE_FIELDS)
        assert not FREE_TEXT & set(commands.SACCT_USAGE_FIELDS)


def test_the_real_sweep_output_holds_only_the_real_jobs() -> None:
    found = {u.slurm_job_id: u for u in accounted_jobs(captured("hostile_sacct_accounts"))}

    assert found[JOBS["bob_forged"]].account == "rouen-chimie" and found[JOBS["bob_forged"]].user == "bob"
    assert FORGED not in found


def test_shape_checks_alone_cannot_stop_a_whole_forged_line_so_the_sweep_asks_no_comment() -> None:
    """The sweep as it was (usage fields + Comment), on the dev cluster, with bob's job: a line
    of his comment is a complete, well-shaped usage line of job 99999. Only not asking for the
    comment in that query keeps it out."""
    before = captured("hostile_sacct_accounts_with_comment")
    assert FORGERIES[0].encode() + b"\n" in before
    assert FORGED in {u.slurm_job_id for u in parse.parse_sacct_usage(before)}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=HOSTILE, field=st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 11, 12]))
def test_a_usage_line_with_a_field_out_of_shape_is_no_record(value: str | bytes, field: int) -> None:
    """Ids, states, exit codes, counts, TRES and times are checked: a value that is not what
    Slurm prints there makes the line no record (a line break only adds lines out of shape,
    or whole lines, which is why no query of usage asks for free text)."""
    text = captured("hostile_sacct_accounts")
    clean = {u.slurm_job_id: u for u in parse.parse_sacct_usage(text)}
    got = {u.slurm_job_id: u for u in parse.parse_sacct_usage(with_field(text, 0, field, value))}
    whole = any(f.encode() in raw(value) for f in FORGERIES[:1])
    assert set(got) <= set(clean) | ({FORGED} if whole else set())
    for job_id, u in got.items():
        if job_id != FORGED and job_id != JOBS["bob_forged"]:
            assert u == clean[job_id]


# --- the backend asks again about fewer jobs when an answer is ambiguous -----------------------
def comment_answer(ids: list[str], comments: dict[str, str]) -> bytes:
    return b"".join(f"{i}{SEP}{comments[i]}{SEP}{i}\n".encode() for i in ids if i in comments)


def real_comments() -> dict[str, str]:
    comments = {i: "" for i in (JOBS["sep_comment"], JOBS["newline_comment"], JOBS["newline_name"],
                                f"{JOBS['target_array']}_0", f"{JOBS['target_array']}_1")}  # fmt: skip
    return {JOBS["bob_forged"]: FORGED_COMMENT, **comments}


def _naming(jobs: str) -> Callable[[tuple[str, ...]], bool]:
    """A reply condition: the command's arguments include ``jobs``."""
    return lambda argv: jobs in argv


def sacct_printing(comments: dict[str, str]) -> FakeRunner:
    """sacct as the dev cluster printed it (checked against the capture), for any id list."""
    runner = FakeRunner()
    for size in range(1, len(comments) + 1):
        for start in range(len(comments)):
            part = list(comments)[start : start + size]
            jobs = f"--jobs={','.join(part)}"
            runner.reply("sacct", comment_answer(part, comments), when=_naming(jobs))
    return runner


def test_comments_of_a_hostile_batch_are_told_apart_by_asking_fewer() -> None:
    comments = real_comments()
    ids = list(comments)
    assert comment_answer(ids, comments) == captured("hostile_sacct_comments"), "not the real shape"
    runner = sacct_printing(comments)

    got = SlurmCliBackend(runner).comments(ids)

    assert got == comments and FORGED not in got
    assert got[JOBS["bob_forged"]].startswith("innocent\n")
    assert runner.count("sacct") <= 1 + AMBIGUOUS_QUERIES_MAX


def test_a_poll_with_a_hostile_reason_still_reads_every_other_job() -> None:
    text = captured("hostile_squeue_status")
    lines = [line for line in text.split(b"\n") if line]
    hostile = with_field(text, 0, 5, "None\n" + FORGERIES[3])
    runner = FakeRunner().reply("squeue", b"\n".join(lines[1:]) + b"\n").reply("sacct", "")
    runner.reply("squeue", hostile, when=lambda a: JOBS["bob_forged"] in a[4] and "," in a[4])
    runner.reply("squeue", b"", when=lambda a: a[4] == f"--jobs={JOBS['bob_forged']}")
    ids = [JOBS["bob_forged"], JOBS["sep_comment"], JOBS["newline_comment"], JOBS["newline_name"]]

    status = SlurmCliBackend(runner).status(ids)

    assert FORGED not in status
    assert set(status) == set(ids[1:]), "the other jobs are known, the hostile one is left unknown"


def test_an_ambiguous_tag_answer_is_checked_line_by_line_with_narrow_lookups() -> None:
    """Alice's own comment broke a line (real capture): the whole lines claiming the tag are
    each asked about alone; the real job is found, not sent twice nor left unknown for good."""
    array = JOBS["target_array"]
    mine = b"".join(
        line + b"\n"
        for line in captured("hostile_squeue_tags").split(b"\n")
        if line.startswith(array.encode())
    )
    runner = FakeRunner().reply_from("scontrol", "scontrol_show_config")
    runner.reply_from("squeue", "hostile_squeue_tags")
    runner.reply("squeue", mine, when=lambda a: f"--jobs={array}" in a)

    assert SlurmCliBackend(runner).find_by_tag("mg:cap-hostile-target") == array
    assert runner.argvs("squeue")[-1][:5] == (
        "squeue",
        "--noheader",
        "--me",
        "--states=all",
        f"--jobs={array}",
    )


def test_a_forged_tag_line_in_an_ambiguous_answer_is_not_taken() -> None:
    tag = "mg:0ef85d52-a923-4f33-8cc6-cdc4607154c9"
    hostile = f"5{SEP}x\n{FORGED}{SEP}{tag}{SEP}{FORGED}\ny{SEP}5\n"  # one comment of alice's job 5
    runner = FakeRunner().reply_from("scontrol", "scontrol_show_config").reply("id", "alice\n")
    runner.reply("squeue", "").reply("sacct", hostile)
    runner.reply("sacct", "", when=lambda a: f"--jobs={FORGED}" in a and "--user=alice" in a)

    assert SlurmCliBackend(runner).find_by_tag(tag) is None  # job 99999 is no job of alice's
    assert runner.count("sacct") == 2
    assert SlurmCliBackend(runner).find_by_tag("mg:not-there-at-all") is None  # not in the text


def test_an_ambiguous_answer_whose_narrow_lookup_fails_is_unknown() -> None:
    tag = "mg:0ef85d52-a923-4f33-8cc6-cdc4607154c9"
    hostile = f"5{SEP}x\n6{SEP}{tag}{SEP}6\ny{SEP}5\n"
    runner = FakeRunner().reply_from("scontrol", "scontrol_show_config").reply("id", "alice\n")
    runner.reply("squeue", "").reply("sacct", hostile)
    runner.reply(
        "sacct", "", "sacct: error: Socket timed out on send/recv operation\n", when=lambda a: "--jobs=6" in a
    )

    with pytest.raises(SchedulerUnavailable, match="inconclusive"):
        SlurmCliBackend(runner).find_by_tag(tag)
