"""The corpus is well formed, and the pieces the corpus tests lean on read what they should."""

from __future__ import annotations

import pytest

from tests.corpus import capabilities, loader
from tests.corpus.loader import Entry, Placeholders
from tests.corpus.slurm_view import billing_of, differences, parse_show_job

# A real line of `scontrol show job -o` (Slurm 22.05.8, dev cluster), cut down.
SHOW_JOB = (
    "JobId=4031 JobName=dft scan UserId=alice(1001) Priority=0 Nice=10 Account=caen-climat "
    "QOS=normal JobState=PENDING Reason=JobHeldUser Dependency=afterok:4014(unfulfilled) "
    "TimeLimit=01:00:00 NumNodes=1-1 NumCPUs=28 NumTasks=4 CPUs/Task=7 ReqB:S:C:T=0:0:*:* "
    "TRES=cpu=28,mem=48G,node=1,billing=40 NtasksPerN:B:S:C=4:0:*:* MinMemoryNode=48G "
    "StdOut=/home/alice/slurm-4031.out MailUser=alice@unicaen.fr MailType=END,FAIL \n"
)


def test_every_script_has_one_well_formed_entry_and_every_entry_a_script() -> None:
    assert loader.problems() == []


def test_the_corpus_is_large_and_covers_every_outcome() -> None:
    entries = loader.load()
    counts = loader.by_outcome(entries)
    assert len(entries) >= 45
    assert all(counts[o] > 0 for o in loader.OUTCOMES), counts


def test_scripts_keep_their_bytes_crlf_and_bom_included() -> None:
    by_name = {e.name: e for e in loader.load()}
    assert by_name["crlf_windows_editor.sh"].script.count(b"\r\n") >= 5
    assert by_name["utf8_bom.sh"].script.startswith(b"\xef\xbb\xbf#!/bin/bash\n")
    assert b"\r" not in by_name["serial_hello.sh"].script


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ({"story": "s", "outcome": "maybe"}, "outcome 'maybe'"),
        ({"story": "s", "outcome": "refused"}, "needs a reason"),
        ({"story": "s", "outcome": "accepted", "reason": "x", "slurm": {"A": "1"}}, "has no reason"),
        ({"story": "s", "outcome": "accepted"}, "needs Slurm fields"),
        ({"story": "s", "outcome": "refused", "reason": "x", "slurm": {"A": "1"}}, "has no Slurm fields"),
        ({"story": "s", "outcome": "refused", "reason": "x", "needs": ["warp"]}, "unknown capability"),
        ({"story": "s", "outcome": "refused", "reason": "x", "args": ["-t 10"]}, "not a long option"),
        ({"story": "s", "outcome": "refused", "reason": "x", "colour": "red"}, "unknown key"),
        ({"story": "", "outcome": "refused", "reason": "x"}, "no story"),
        ({"story": "s", "outcome": "refused", "reason": "x", "stage": "later"}, "stage must be"),
    ],
)
def test_a_malformed_entry_is_named_with_what_is_wrong(raw: dict[str, object], complaint: str) -> None:
    found = loader.entry_problems("x.sh", raw)
    assert any(complaint in p for p in found), found


def test_a_dependency_placeholder_needs_its_expectation() -> None:
    script = b"#!/bin/bash\n#SBATCH -d afterok:@DEP@\n"
    assert loader.script_problems("x.sh", script, {}) != []
    assert loader.script_problems("x.sh", script, {"dep_owner": "other"}) == []
    assert loader.script_problems("x.sh", b"echo no shebang\n", {}) != []


def test_args_become_overrides_and_placeholders_are_filled() -> None:
    entry = Entry(
        name="x.sh", story="s", outcome="accepted", script=b"#!/bin/bash\n#SBATCH -d afterok:@DEP@\n",
        args=("--time=00:30:00", "--exclusive"), slurm={"StdOut": ("@HOME@/o-@JOBID@.out",)},
    )  # fmt: skip
    values = Placeholders(dep="77", home="/home/bob", job_id="12")
    assert entry.overrides() == {"time": "00:30:00", "exclusive": ""}
    assert entry.text_with(values).endswith("afterok:77\n")
    assert entry.expected_fields(values) == {"StdOut": ("/home/bob/o-12.out",)}


def test_scontrol_show_job_is_read_field_by_field() -> None:
    fields = parse_show_job(SHOW_JOB)
    assert fields["JobName"] == "dft scan"
    assert fields["CPUs/Task"] == "7"
    assert fields["ReqB:S:C:T"] == "0:0:*:*"
    assert fields["Dependency"] == "afterok:4014(unfulfilled)"
    assert fields["MailType"] == "END,FAIL"
    assert billing_of(fields) == 40


def test_an_array_is_read_from_its_own_record_not_a_started_task() -> None:
    text = (
        "JobId=501 ArrayJobId=500 ArrayTaskId=1 JobState=RUNNING\n"
        "JobId=500 ArrayJobId=500 ArrayTaskId=2-20%5 JobState=PENDING\n"
    )
    assert parse_show_job(text)["JobState"] == "PENDING"


def test_differences_accept_any_listed_value_and_name_the_rest() -> None:
    shown = parse_show_job(SHOW_JOB)
    assert differences({"NumNodes": ("1", "1-1"), "NumTasks": ("4",)}, shown) == []
    assert differences({"NumTasks": ("8",), "Features": ("ib",)}, shown) == [
        "NumTasks: expected '8', Slurm shows '4'",
        "Features: expected 'ib', Slurm shows '<absent>'",
    ]


def test_a_missing_capability_is_named_in_the_skip_reason() -> None:
    assert capabilities.missing(frozenset({"gpu"}), frozenset({"gpu", "qos"})) is None
    reason = capabilities.missing(frozenset({"gpu", "licenses"}), frozenset({"gpu"}))
    assert reason is not None
    assert "does not offer licenses yet" in reason


def test_an_array_whose_tasks_started_at_once_still_shows_every_task() -> None:
    text = (
        "JobId=501 ArrayJobId=500 ArrayTaskId=1 JobState=RUNNING\n"
        "JobId=502 ArrayJobId=500 ArrayTaskId=2 JobState=RUNNING\n"
        "JobId=500 ArrayJobId=500 ArrayTaskId=3-20%5 JobState=PENDING\n"
    )
    shown = parse_show_job(text)
    assert differences({"ArrayTaskId": ("1-20%5",)}, shown) == []
    assert differences({"ArrayTaskId": ("1-20%4",)}, shown) != []
    assert differences({"ArrayTaskId": ("0,100,200,300",)}, {"ArrayTaskId": "0-300:100"}) == []
