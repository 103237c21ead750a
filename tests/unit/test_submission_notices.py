"""A submission's notices: the script is normalised before it is read (BOM, CRLF), and how it
was read (abbreviated or old option names) is said back, by submit and dry run alike."""

from __future__ import annotations

from sqlalchemy.orm import Session

from myriagate.db.models import Job, User
from myriagate.services.submission.preview import preview_job
from myriagate.services.submission.submit import SubmitRequest, submit_job, validate_submission
from tests.conftest import CLUSTER, FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.profiles import dev_profile

WINDOWS = "\ufeff#!/bin/bash\r\n#SBATCH --time=10\r\n#SBATCH --err=e.log\r\n#SBATCH --shared\r\nsrun ./a\r\n"


def test_a_clean_script_has_no_notices(alice: User) -> None:
    request = SubmitRequest(script_text="#!/bin/bash\n#SBATCH --time=10\nsrun ./a\n", cluster=CLUSTER)
    assert validate_submission(profile=dev_profile(), user=alice, request=request).notices == ()


def test_bom_and_crlf_are_normalised_and_every_reading_is_noticed(alice: User) -> None:
    request = SubmitRequest(script_text=WINDOWS, cluster=CLUSTER)
    validated = validate_submission(profile=dev_profile(), user=alice, request=request)
    assert validated.notices == (
        "the script began with a byte-order mark (BOM); it was removed",
        "the script had Windows line endings (CRLF); they were converted to Unix ones",
        "line 3: --err read as --error, as sbatch does",
        "line 4: --shared is the old name of --oversubscribe; sent as --oversubscribe",
    )
    assert validated.spec.error == "e.log" and validated.spec.oversubscribe is True
    assert "\r" not in validated.script.text and not validated.script.text.startswith("\ufeff")
    assert validated.script.text.startswith("#!/bin/bash\n")


def test_submit_and_preview_hand_the_notices_on(
    session: Session,
    backends: FakeSlurmBackendFactory,
    fake_cluster: FakeCluster,
    alice: User,
    clock: FakeClock,
) -> None:
    request = SubmitRequest(script_text=WINDOWS, cluster=CLUSTER)
    preview = preview_job(session, profile=dev_profile(), user=alice, request=request, clock=clock)
    notices: list[str] = []
    job = submit_job(session, backends=backends, profile=dev_profile(), user=alice, request=request,
                     clock=clock, notices=notices)  # fmt: skip
    assert len(notices) == 4 and tuple(notices) == preview.notices
    stored = session.get(Job, job.id)
    assert stored is not None and "\r" not in stored.script_text
    assert "--oversubscribe" in fake_cluster.job(job.slurm_job_id or "").sbatch_args
