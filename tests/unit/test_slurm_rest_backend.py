"""SlurmRestBackend against slurmrestd's real answers (captured from the dev cluster) and the
faults a network and a daemon produce (issue #16: slurmrestd down, slow or answering 5xx, a
dropped answer after a submit, a refused token)."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from structlog.testing import capture_logs

from myriagate.domain.jobs import RenderedScript
from myriagate.domain.states import JobState
from myriagate.errors import PermissionDenied, SchedulerRejected, SchedulerUnavailable, SubmissionUncertain
from myriagate.slurm.rest_backend import SlurmRestBackend
from myriagate.slurm.rest_http import SlurmRestClient
from myriagate.slurm.rest_tokens import JwtMinter
from myriagate.web.i18n import Translator
from tests.fakes.fake_slurmrestd import KEY, FakeSlurmrestd, captured

FAILED, ARRAY, HELD, FOLDED = "5070", "5071", "5072", "5073"
SCRIPT = RenderedScript("#!/bin/sh\nexit 3\n", ("--partition=debug", "--ignore-pbs"))


def backend_on(fake: FakeSlurmrestd, login: str = "alice") -> SlurmRestBackend:
    client = SlurmRestClient("http://slurmrestd.test:6820", JwtMinter(KEY).token, transport=fake.transport())
    return SlurmRestBackend(client, login)


@pytest.fixture
def fake() -> FakeSlurmrestd:
    return FakeSlurmrestd()


def is_submit(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/job/submit")


# --- reading the real answers ------------------------------------------------------------------
def test_status_reads_a_failed_job_an_array_a_held_job_and_folded_waiting_tasks(fake: FakeSlurmrestd) -> None:
    status = backend_on(fake).status([FAILED, ARRAY, HELD, FOLDED])

    assert status[FAILED].state is JobState.FAILED
    assert status[FAILED].exit_code == 3  # the controller's raw wait status 768
    assert status[ARRAY].state is JobState.FAILED and status[ARRAY].exit_code == 1
    assert [(t.slurm_job_id, t.state) for t in status[ARRAY].array_tasks] == [
        ("5071_0", JobState.COMPLETED),
        ("5071_1", JobState.FAILED),
    ]
    assert status[ARRAY].array_tasks[0].raw_job_id == "5074"  # task 0's own id, %j in its files
    assert status[HELD].state is JobState.PENDING and status[HELD].reason == "JobHeldUser"
    # How the failed job ended, from accounting's record: what it asked (10 min, 1000 MB).
    assert (status[FAILED].time_limit_s, status[FAILED].mem_requested_bytes) == (600, 1000 * 2**20)
    assert status[FAILED].cancelled_by is None and status[FAILED].max_rss_bytes is None
    assert [t.slurm_job_id for t in status[FOLDED].array_tasks] == ["5073_0", "5073_1", "5073_2"]


def test_once_the_controller_forgot_a_failed_job_its_exit_code_is_unknown_not_zero(
    fake: FakeSlurmrestd,
) -> None:
    # slurmrestd 22.05's accounting reads every normal exit as SUCCESS/0 (captured: exit 3).
    fake.answer("GET", "/slurm/v0.0.38/jobs", 200, {"jobs": [], "errors": []})

    status = backend_on(fake).status([FAILED, ARRAY])

    assert status[FAILED].state is JobState.FAILED and status[FAILED].exit_code is None
    assert status[ARRAY].state is JobState.FAILED and status[ARRAY].exit_code is None
    assert status[ARRAY].array_tasks[0].exit_code == 0  # a COMPLETED task did exit 0


@pytest.mark.parametrize(("who", "named"), [("alice", "alice"), ("root", "root"), ("al$(id)\nx", None)])
def test_who_cancelled_a_job_is_named_when_it_is_a_plain_login(
    fake: FakeSlurmrestd, who: str, named: str | None
) -> None:
    status, body = captured("db_jobs")
    held = next(j for j in body["jobs"] if str(j["job_id"]) == HELD)
    held |= {"state": {"current": "CANCELLED", "reason": "None"}, "kill_request_user": who}
    fake.answer("GET", "/slurmdb/v0.0.38/jobs", status, body)
    fake.answer("GET", "/slurm/v0.0.38/jobs", 200, {"jobs": [], "errors": []})

    ended = backend_on(fake).status([HELD])[HELD]

    assert ended.state is JobState.CANCELLED and ended.cancelled_by == named


def test_accounting_reads_the_allocation_from_accountings_tres(fake: FakeSlurmrestd) -> None:
    usage = backend_on(fake).accounting([FAILED, ARRAY, "5071_0"])

    assert (usage[FAILED].alloc_cpus, usage[FAILED].alloc_mem_mb, usage[FAILED].alloc_nodes) == (1, 1000, 1)
    assert usage[FAILED].tres_alloc["billing"] == 1 and usage[FAILED].account == "caen-climat"
    assert usage[FAILED].exit_code is None  # lost by slurmrestd, never a made-up 0
    assert usage["5071_0"].exit_code == 0
    assert usage[ARRAY].exit_code is None  # one task's code is unknown: so is the array's
    sent = [r for r in fake.requests if r.url.path == "/slurmdb/v0.0.38/jobs"][-1]
    assert sent.url.params["step"] == f"{FAILED},{ARRAY}" and sent.url.params["skip_steps"] == "true"


def test_tags_are_found_in_the_queue_then_in_accounting_and_missing_ones_are_none(
    fake: FakeSlurmrestd,
) -> None:
    backend = backend_on(fake)
    assert backend.find_by_tags(["mg:capture-exit3", "mg:capture-array", "mg:absent"]) == {
        "mg:capture-exit3": FAILED,
        "mg:capture-array": ARRAY,
        "mg:absent": None,
    }
    fake.answer("GET", "/slurm/v0.0.38/jobs", 200, {"jobs": [], "errors": []})  # gone from the queue
    assert backend.find_by_tag("mg:capture-array") == ARRAY
    assert backend.find_by_tags([]) == {}


def test_every_request_carries_a_token_for_the_login_it_acts_as(fake: FakeSlurmrestd) -> None:
    backend_on(fake, "bob").status([FAILED])

    for request in fake.requests:
        assert request.headers["X-SLURM-USER-NAME"] == "bob"
        claims = jwt.decode(request.headers["X-SLURM-USER-TOKEN"], KEY, algorithms=["HS256"])
        assert claims["sun"] == "bob"


def test_ping_reads_the_release_and_the_partitions(fake: FakeSlurmrestd) -> None:
    health = backend_on(fake).ping()

    assert health.reachable and health.slurm_version == "22.05.8"
    assert {"court", "long", "debug"} <= set(health.partitions) and health.partitions["debug"] == "up"


def test_submit_sends_the_script_and_the_tag_and_returns_the_id(fake: FakeSlurmrestd) -> None:
    job_id = backend_on(fake).submit(SCRIPT, tag="mg:t-1")

    assert job_id == FAILED
    body = fake.received[-1].read().decode()
    assert '"comment":"mg:t-1"' in body.replace(" ", "") and "exit 3" in body


def test_a_held_submission_answers_a_job_id_with_a_message_and_is_no_error(fake: FakeSlurmrestd) -> None:
    fake.answer("POST", "/slurm/v0.0.38/job/submit", *captured("submit_held"))

    assert backend_on(fake).submit(SCRIPT, tag="mg:t-held") == HELD


# --- faults -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [httpx.ConnectError("Connection refused"), httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow")],
    ids=["refused", "connect-timeout", "read-timeout"],
)
def test_slurmrestd_down_or_slow_is_cluster_unavailable_and_transient(
    fake: FakeSlurmrestd, fault: Exception
) -> None:
    fake.fail(fault)
    backend = backend_on(fake)

    with pytest.raises(SchedulerUnavailable) as caught:
        backend.status([FAILED])
    assert caught.value.transient
    assert not backend.ping().reachable


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_proxys_5xx_without_slurms_json_is_cluster_unavailable(fake: FakeSlurmrestd, status: int) -> None:
    fake.answer("GET", "/slurm/v0.0.38/jobs", status, "<html>Bad gateway</html>")

    with pytest.raises(SchedulerUnavailable):
        backend_on(fake).status([FAILED])


def test_a_submit_refused_before_it_was_sent_is_unavailable_not_uncertain(fake: FakeSlurmrestd) -> None:
    fake.fail(httpx.ConnectError("Connection refused"))

    with pytest.raises(SchedulerUnavailable) as caught:
        backend_on(fake).submit(SCRIPT, tag="mg:t-2")
    assert not isinstance(caught.value, SubmissionUncertain)


def test_an_answer_lost_after_a_submit_is_uncertain_and_the_tag_finds_the_one_job(
    fake: FakeSlurmrestd,
) -> None:
    # slurmrestd received the submission (the job exists: the capture's 5070 carries the tag)
    # and the connection dropped before its answer came back.
    fake.fail(httpx.RemoteProtocolError("Server disconnected"), when=is_submit, after_receiving=True)
    backend = backend_on(fake)

    with pytest.raises(SubmissionUncertain):
        backend.submit(SCRIPT, tag="mg:capture-exit3")

    assert backend.find_by_tag("mg:capture-exit3") == FAILED  # found: not submitted again
    assert sum(is_submit(r) for r in fake.received) == 1


def test_a_proxys_5xx_to_a_submit_is_uncertain(fake: FakeSlurmrestd) -> None:
    fake.answer("POST", "/slurm/v0.0.38/job/submit", 504, "Gateway Timeout")

    with pytest.raises(SubmissionUncertain):
        backend_on(fake).submit(SCRIPT, tag="mg:t-3")


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_permission_denied_and_logged(fake: FakeSlurmrestd, status: int) -> None:
    fake.answer("GET", "/slurm/v0.0.38/jobs", status, "Authentication failure")

    with capture_logs() as logs, pytest.raises(PermissionDenied):
        backend_on(fake).status([FAILED])
    assert any(e["event"] == "slurmrestd.auth_refused" and e["login"] == "alice" for e in logs)


def test_a_token_slurm_refuses_is_permission_denied_and_logged(fake: FakeSlurmrestd) -> None:
    # Captured with a token signed by another key: the controller says -1, accounting 1007.
    fake.answer("GET", "/slurm/v0.0.38/jobs", *captured("jobs_forged"))
    fake.answer("GET", "/slurmdb/v0.0.38/user/alice", *captured("db_user_forged"))

    with capture_logs() as logs, pytest.raises(PermissionDenied) as refused:
        backend_on(fake).status([FAILED])
    assert any(e["event"] == "slurmrestd.token_refused" for e in logs)
    assert (
        Translator("fr").text(refused.value.detail)
        == "le cluster a refusé les identifiants de la passerelle pour alice"
    )


def test_the_same_minus_one_with_a_token_accounting_accepts_is_unavailable(fake: FakeSlurmrestd) -> None:
    fake.answer("GET", "/slurm/v0.0.38/jobs", *captured("jobs_forged"))  # -1, token fine: slurmctld away

    with pytest.raises(SchedulerUnavailable):
        backend_on(fake).status([FAILED])


ZERO_BYTES = {"errors": [{"error_code": 5005, "error": "Zero Bytes were transmitted or received"}]}


def test_zero_bytes_to_a_submit_is_a_refused_token_or_an_uncertain_outcome(fake: FakeSlurmrestd) -> None:
    # Measured: a forged, expired or borrowed token makes submit and cancel answer 5005.
    fake.answer("POST", "/slurm/v0.0.38/job/submit", 500, ZERO_BYTES)
    backend = backend_on(fake)
    with pytest.raises(SubmissionUncertain):  # accounting accepts the token: slurmctld's trouble
        backend.submit(SCRIPT, tag="mg:t-6")

    fake.answer("GET", "/slurmdb/v0.0.38/user/alice", *captured("db_user_forged"))
    with pytest.raises(PermissionDenied):
        backend.submit(SCRIPT, tag="mg:t-7")


def test_an_unspecified_error_beside_a_parsing_error_is_a_refusal(fake: FakeSlurmrestd) -> None:
    errors = [
        {"error": "Invalid get user environment specification", "error_code": -1},
        {"error_code": 9001, "error": "Failure during parsing"},
    ]
    fake.answer("POST", "/slurm/v0.0.38/job/submit", 400, {"errors": errors})

    with pytest.raises(SchedulerRejected, match="Invalid get user environment"):
        backend_on(fake).submit(SCRIPT, tag="mg:t-8")
    assert not any(r.url.path.endswith("/user/alice") for r in fake.requests)  # no probe needed


def test_slurm_communication_errors_are_unavailable(fake: FakeSlurmrestd) -> None:
    errors = [{"error_number": 1001, "error": "Unable to contact slurm controller (connect failure)"}]
    fake.answer("GET", "/slurmdb/v0.0.38/jobs", 500, {"errors": errors, "jobs": []})

    with pytest.raises(SchedulerUnavailable):
        backend_on(fake).accounting([FAILED])


def test_slurms_own_refusal_is_rejected_with_its_text(fake: FakeSlurmrestd) -> None:
    fake.answer("POST", "/slurm/v0.0.38/job/submit", *captured("submit_rejected"))

    with pytest.raises(SchedulerRejected, match="Invalid partition name specified"):
        backend_on(fake).submit(SCRIPT, tag="mg:t-4")


def test_cancelling_an_unknown_job_is_fine_and_anothers_is_denied(fake: FakeSlurmrestd) -> None:
    fake.answer("DELETE", "/slurm/v0.0.38/job/987654321", *captured("cancel_unknown"))
    fake.answer("DELETE", f"/slurm/v0.0.38/job/{HELD}", *captured("cancel_denied"))
    backend = backend_on(fake)

    backend.cancel("987654321")
    with pytest.raises(PermissionDenied):
        backend.cancel(HELD)


def test_an_id_accounting_does_not_know_is_left_out(fake: FakeSlurmrestd) -> None:
    fake.answer("GET", "/slurmdb/v0.0.38/jobs", *captured("db_nothing_found"))

    assert backend_on(fake).status(["987654321"]) == {}
    assert backend_on(fake).accounting(["987654321"]) == {}


# --- files --------------------------------------------------------------------------------------
def test_without_a_file_runner_the_home_is_the_pattern_and_tail_says_why_not(fake: FakeSlurmrestd) -> None:
    client = SlurmRestClient("http://x", JwtMinter(KEY).token, transport=fake.transport())
    backend = SlurmRestBackend(client, "alice", home="/home/{login}")

    assert backend.home_dir() == "/home/alice"
    with pytest.raises(SchedulerRejected, match="job output cannot be read") as refused:
        backend.tail("/home/alice/slurm-1.out")
    assert str(Translator("fr").text(refused.value.detail)).startswith("ce cluster n'est joint que par")


def test_with_a_file_backend_tail_and_home_go_through_it(fake: FakeSlurmrestd) -> None:
    class Files:
        def tail(self, path: str, max_bytes: int = 65536) -> bytes:
            return f"{path}:{max_bytes}".encode()

        def home_dir(self) -> str:
            return "/users/alice"

    client = SlurmRestClient("http://x", JwtMinter(KEY).token, transport=fake.transport())
    backend = SlurmRestBackend(client, "alice", files=Files())  # type: ignore[arg-type]

    assert backend.tail("/users/alice/o.out", 10) == b"/users/alice/o.out:10"
    backend.submit(SCRIPT, tag="mg:t-5")
    sent: Any = fake.received[-1].read().decode()
    assert '"current_working_directory":"/users/alice"' in sent.replace(" ", "")
