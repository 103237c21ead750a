"""Why a job waits or how it ended, in English and French, from real squeue/sacct lines of the
dev cluster (tests/data/slurm: capture.py, capture_endings.py) read by the real parsers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

import pytest

from myriagate.domain import job_explanations as je
from myriagate.domain import pending_reasons
from myriagate.domain.jobs import JobStatus
from myriagate.domain.states import JobState
from myriagate.slurm import endings, parse
from myriagate.web.explanations import ended_by, said
from myriagate.web.i18n import Translator, catalog
from tests.fakes.fake_runner import DATA_DIR, load_capture

EN, FR = Translator("en"), Translator("fr")
JOBS: dict[str, str] = json.loads((DATA_DIR / "jobs.json").read_text())
ENDINGS: dict[str, str] = json.loads((DATA_DIR / "jobs_endings.json").read_text())
MiB = 2**20


@dataclass(frozen=True)
class Facts:
    """A job as the read model holds it (what tracking copied from a status)."""

    state: JobState
    slurm_state: str | None = None
    reason: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    max_rss_bytes: int | None = None
    mem_requested_bytes: int | None = None
    time_limit_s: int | None = None
    cancelled_by: str | None = None


def facts(status: JobStatus) -> Facts:
    assert status.state is not None
    return Facts(
        status.state, status.slurm_state, status.reason, status.exit_code, status.signal,
        status.max_rss_bytes, status.mem_requested_bytes, status.time_limit_s, status.cancelled_by,
    )  # fmt: skip


def words(job: Facts, t: Translator = EN) -> str:
    found = said(job, t)
    assert found is not None
    return found.text.replace("\u202f", " ").replace("\xa0", " ")


def sacct(capture: str) -> dict[str, JobStatus]:
    return {s.slurm_job_id: s for s in parse.parse_sacct_status(load_capture(capture)[0])}


def ended(key: str) -> Facts:
    """A job of capture_endings.py as tracking records it: sacct's status with its end details
    and its canceller named, as ``endings.add_endings`` adds them."""
    statuses = sacct("sacct_endings_status")
    details = endings.parse_end_details(load_capture("sacct_end_details")[0])
    names = endings.parse_user_names(load_capture("getent_passwd")[0])
    return facts(endings.with_endings(statuses, details, names)[ENDINGS[key]])


# --- how jobs ended, from the dev cluster ------------------------------------------------
def test_a_job_over_its_memory_ran_out_of_memory_with_what_it_used_of_what_it_asked() -> None:
    job = ended("oom")
    # No cgroups on the dev cluster: FAILED 0:9, the peak RSS above --mem=100M.
    assert (job.state, job.exit_code, job.signal) == (JobState.FAILED, 0, 9)
    assert job.mem_requested_bytes == 100 * MiB and (job.max_rss_bytes or 0) > 100 * MiB
    english = words(job)
    assert re.fullmatch(r"ran out of memory \(used \d{3} MB of 100 MB\)", english), english
    assert re.fullmatch(r"mémoire épuisée \(\d{3} Mo utilisés sur 100 Mo\)", words(job, FR))
    assert said(job, EN).hint == "submit it again asking for more memory (--mem)"  # type: ignore[union-attr]
    assert je.exit_code_shown(job.state, job.exit_code, job.signal) is None, "never 'exit code 0'"


def test_a_job_that_reached_its_time_limit_says_the_limit() -> None:
    job = ended("timeout")
    assert (job.state, job.exit_code) == (JobState.TIMEOUT, 0)
    assert words(job) == "reached its time limit (1 min)"
    assert words(job, FR) == "limite de temps atteinte (1 min)"
    assert je.exit_code_shown(job.state, job.exit_code, job.signal) is None, "sacct says 0: not shown"


def test_a_job_its_owner_cancelled_names_her_never_her_uid() -> None:
    job = ended("cancel_owner")
    assert job.slurm_state == "CANCELLED by 1001"
    assert words(job) == "cancelled by alice" and words(job, FR) == "annulé par alice"
    assert "1001" not in words(job)
    assert je.exit_code_shown(job.state, job.exit_code, job.signal) is None


def test_a_job_root_cancelled_was_cancelled_by_an_administrator() -> None:
    job = ended("cancel_root")
    assert job.slurm_state == "CANCELLED by 0"
    assert words(job) == "cancelled by a cluster administrator"
    assert words(job, FR) == "annulé par un administrateur du cluster"


def test_a_job_killed_by_a_signal_says_the_signal_not_an_exit_code() -> None:
    job = ended("killed")
    assert (job.state, job.exit_code, job.signal) == (JobState.FAILED, 0, 9)
    assert words(job) == "killed by signal 9 (SIGKILL)", "its RSS was tiny: not a memory kill"
    assert words(job, FR) == "tué par le signal 9 (SIGKILL)"
    assert je.exit_code_shown(job.state, job.exit_code, job.signal) is None
    assert ended_by(job, EN) == "killed by signal 9 (SIGKILL)"


def test_a_job_that_exited_3_failed_with_exit_code_3() -> None:
    job = ended("exit3")
    assert words(job) == "failed with exit code 3" and words(job, FR) == "échoué avec le code de sortie 3"
    assert je.exit_code_shown(job.state, job.exit_code, job.signal) == 3
    assert ended_by(job, EN) is None


def test_the_first_capture_reads_the_same_and_a_completed_job_exited_0() -> None:
    statuses = sacct("sacct_status")
    assert words(facts(statuses[JOBS["completed"]])) == "finished successfully (exit code 0)"
    assert words(facts(statuses[JOBS["signal"]])) == "killed by signal 9 (SIGKILL)"
    assert words(facts(statuses[JOBS["timeout"]])) == "reached its time limit", "no details asked"
    assert words(facts(statuses[JOBS["cancel_running"]])) == "cancelled", "uid not named: no uid shown"


# --- why jobs wait, from the dev cluster ---------------------------------------------------
def squeue(capture: str) -> dict[str, Facts]:
    return {s.slurm_job_id: facts(s) for s in parse.parse_squeue_status(load_capture(capture)[0])}


def test_waiting_jobs_from_squeue_in_plain_words() -> None:
    first, later = squeue("squeue_endings_running"), squeue("squeue_pending_reasons")
    held = said(first[ENDINGS["held"]], EN)
    assert held is not None and (held.text, held.slurm_code) == ("held by its owner", "JobHeldUser")
    assert words(first[ENDINGS["held"]], FR) == "retenu par son propriétaire"
    assert words(first[ENDINGS["begin"]]) == "waiting for its start time (--begin)"
    assert words(first[ENDINGS["big"]]) == "waiting for resources"
    assert words(first[ENDINGS["big"]], FR) == "en attente de ressources"
    assert words(first[ENDINGS["dependency"]]) == "waiting for the jobs it depends on"
    # The job it waited for was cancelled: afterok can never be met.
    never = said(later[ENDINGS["dependency"]], EN)
    assert never is not None and never.code == "dependency_never_satisfied"
    assert never.hint == "cancel it, or submit it again with another dependency"
    assert words(later[ENDINGS["never"]], FR).startswith("bloqué : un job dont il dépend")


@pytest.mark.parametrize(
    ("reason", "english", "french"),
    [
        ("Resources", "waiting for resources", "en attente de ressources"),
        ("Priority", "waiting for higher-priority jobs", "en attente de jobs plus prioritaires"),
        ("AssocGrpCPUMinutesLimit", "waiting: your project's limit is reached (its computing-time budget is "
         "used up)", "en attente : la limite de votre projet est atteinte (son budget de temps de calcul est "
         "épuisé)"),
        ("AssocGrpCpuLimit", "waiting: your project's limit is reached",
         "en attente : la limite de votre projet est atteinte"),
        ("QOSGrpGRES", "waiting: your project's limit is reached",
         "en attente : la limite de votre projet est atteinte"),
        ("AssocGrpCPURunMinutesLimit", "waiting: your project's limit is reached",
         "en attente : la limite de votre projet est atteinte"),
        ("QOSMaxJobsPerUserLimit", "waiting: you have reached your own limit of jobs or resources at once",
         "en attente : vous avez atteint votre propre limite de jobs ou de ressources simultanés"),
        ("QOSMaxWallDurationPerJobLimit", "blocked: its time limit is longer than its QOS allows",
         "bloqué : sa limite de temps dépasse ce que permet sa QOS"),
        ("DependencyNeverSatisfied",
         "blocked: a job it depends on did not end as required, so it can never start",
         "bloqué : un job dont il dépend ne s'est pas terminé comme requis, "
         "il ne pourra donc jamais démarrer"),
        ("JobHeldAdmin", "held by an administrator", "retenu par un administrateur"),
        ("ReqNodeNotAvail, UnavailableNodes:vm",
         "waiting: the nodes it needs are unavailable (down, drained or reserved)",
         "en attente : les nœuds dont il a besoin sont indisponibles "
         "(arrêtés, en maintenance ou réservés)"),
        ("PartitionDown", "waiting: its partition is down", "en attente : sa partition est arrêtée"),
        ("Reservation", "waiting for its reservation to start", "en attente du début de sa réservation"),
        ("Licenses", "waiting for licences", "en attente de licences"),
        ("BeginTime", "waiting for its start time (--begin)", "en attente de son heure de début (--begin)"),
    ],
)  # fmt: skip
def test_pending_reasons_in_both_languages(reason: str, english: str, french: str) -> None:
    job = Facts(JobState.PENDING, "PENDING", reason)
    assert words(job) == english and words(job, FR) == french
    assert said(job, EN).slurm_code == reason  # type: ignore[union-attr]


def test_an_unknown_reason_is_shown_as_slurm_wrote_it() -> None:
    job = Facts(JobState.PENDING, "PENDING", "BurstBufferStageIn")
    assert words(job) == "waiting: BurstBufferStageIn" and words(job, FR) == "en attente : BurstBufferStageIn"
    assert said(job, EN).code == "other"  # type: ignore[union-attr]


# --- the rules beyond the captures --------------------------------------------------------
def test_slurms_own_out_of_memory_state_with_and_without_numbers() -> None:
    oom = Facts(JobState.OUT_OF_MEMORY, "OUT_OF_MEMORY", exit_code=0, signal=125)
    assert words(oom) == "ran out of memory"
    sized = replace(oom, max_rss_bytes=int(1.2 * 2**30), mem_requested_bytes=2**30)
    assert words(sized) == "ran out of memory (used 1.2 GB of 1 GB)"
    assert words(sized, FR) == "mémoire épuisée (1,2 Go utilisés sur 1 Go)"
    assert words(replace(oom, mem_requested_bytes=4 * 2**30)) == "ran out of memory (it asked for 4 GB)"


def test_a_sigkill_far_below_the_request_is_not_called_out_of_memory() -> None:
    job = Facts(
        JobState.FAILED,
        "FAILED",
        exit_code=0,
        signal=9,
        max_rss_bytes=80 * MiB,
        mem_requested_bytes=1024 * MiB,
    )
    assert words(job) == "killed by signal 9 (SIGKILL)"
    near = replace(job, max_rss_bytes=950 * MiB)
    assert said(near, EN).code == "out_of_memory"  # type: ignore[union-attr]
    child = Facts(
        JobState.FAILED,
        "FAILED",
        exit_code=137,
        signal=0,
        max_rss_bytes=1000 * MiB,
        mem_requested_bytes=1024 * MiB,
    )
    assert said(child, EN).code == "out_of_memory", "a child killed by it: exit code 137"  # type: ignore[union-attr]
    assert words(replace(child, max_rss_bytes=10 * MiB)) == (
        "failed with exit code 137 (a program it ran was killed by signal 9, SIGKILL)"
    )


def test_a_memory_kill_recorded_as_exit_code_9_is_still_out_of_memory() -> None:
    # The dev cluster under load (CI at 7a9f918): the polling gatherer's kill recorded as
    # FAILED 9:0, the batch step FAILED 9:0 too, MaxRSS 316844K for --mem=50M.
    job = Facts(
        JobState.FAILED, "FAILED", exit_code=9, signal=0, max_rss_bytes=316844 * 1024,
        mem_requested_bytes=50 * MiB,
    )  # fmt: skip
    assert said(job, EN).code == "out_of_memory"  # type: ignore[union-attr]
    assert words(job) == "ran out of memory (used 309 MB of 50 MB)"
    # An exit code 9 under the request is a program's own exit code, said as such.
    assert words(replace(job, max_rss_bytes=10 * MiB)) == "failed with exit code 9"


@pytest.mark.parametrize(
    ("seconds", "english", "french"),
    [(600, "10 min", "10 min"), (5400, "1 h 30 min", "1 h 30 min"), (7200, "2 h", "2 h"),
     (2 * 86400 + 3600 * 4, "2 d 4 h", "2 j 4 h"), (86400, "1 d", "1 j")],
)  # fmt: skip
def test_time_limits_in_words(seconds: int, english: str, french: str) -> None:
    job = Facts(JobState.TIMEOUT, "TIMEOUT", exit_code=0, signal=0, time_limit_s=seconds)
    assert words(job) == f"reached its time limit ({english})"
    assert words(job, FR) == f"limite de temps atteinte ({french})"


def test_other_endings_and_states_the_gateway_explains_itself() -> None:
    assert words(Facts(JobState.NODE_FAIL)) == "stopped: a node it ran on failed"
    assert (
        words(Facts(JobState.PREEMPTED), FR)
        == "arrêté : un job plus prioritaire a pris sa place (préemption)"
    )
    assert words(Facts(JobState.CANCELLED, "CANCELLED by 1001")) == "cancelled", "never the bare uid"
    assert said(Facts(JobState.RUNNING), EN) is None
    assert said(Facts(JobState.STAGING_IN, reason="job directory /x ready"), EN) is None
    assert words(Facts(JobState.PENDING)) == "waiting for the scheduler"


def test_a_signal_linux_does_not_name_is_said_as_a_number() -> None:
    assert words(Facts(JobState.FAILED, "FAILED", exit_code=0, signal=77)) == "killed by signal 77"


def test_every_message_has_a_french_translation_with_the_same_placeholders() -> None:
    placeholder = re.compile(r"%\((\w+)\)s")
    french = catalog("fr")
    missing = [m for m in je.messages() if not french.get(m)]
    assert missing == []
    assert all(
        sorted(placeholder.findall(french[m])) == sorted(placeholder.findall(m)) for m in je.messages()
    )
    assert {w.code for w in pending_reasons.all_words()} >= {"resources", "priority", "project_limit"}


def test_every_phrase_the_rules_make_is_in_the_message_list() -> None:
    cases = [Facts(s) for s in JobState] + [
        Facts(JobState.PENDING, reason=r) for r in [*pending_reasons.EXACT, "AssocGrpMemMinutes", "X"]
    ] + [
        Facts(JobState.FAILED, exit_code=c, signal=s, reason=r, max_rss_bytes=m, mem_requested_bytes=2**30)
        for c, s, r, m in [(0, 9, None, 2**30), (0, 9, None, 1), (137, 0, None, 1), (2, 0, None, None),
                           (0, 0, "JobLaunchFailure", None), (0, 77, None, None)]
    ] + [Facts(JobState.TIMEOUT, time_limit_s=n) for n in (5, 60, 3600, 3660, 86400, 90000)]  # fmt: skip
    listed = set(je.messages())
    for job in cases:
        found = je.explain(job)
        for phrase in (found.text, found.hint) if found else ():
            if phrase is not None:
                assert phrase.msgid in listed, phrase.msgid


def test_slurms_none_reason_is_no_reason() -> None:
    found = said(Facts(JobState.PENDING, "PENDING", "None"), EN)
    assert found is not None and (found.text, found.slurm_code) == ("waiting for the scheduler", None)


SLURM_NO_ASSOCIATION = (
    "Batch job submission failed: Invalid account or account/partition combination specified"
)


def test_a_job_slurm_refused_for_want_of_an_association_says_why_and_what_to_do() -> None:
    # Found trying it as an admin: a member just added is refused by sbatch until slurm-sync
    # gives their login the project's account on Slurm; the job page said only "failed".
    job = Facts(JobState.FAILED, "FAILED", reason=f"sbatch: error: {SLURM_NO_ASSOCIATION}")
    english, french = said(job, EN), said(job, FR)
    assert english is not None and french is not None
    assert english.code == "no_association" and english.slurm_code is None
    assert english.text.startswith("refused by Slurm: your cluster login is not a user of")
    assert english.hint is not None and "myriagate admin slurm-sync" in english.hint
    assert french.text.startswith("refusé par Slurm") and french.hint and "slurm-sync" in french.hint
    assert words(Facts(JobState.FAILED, reason="Invalid partition name specified")) == "failed"
