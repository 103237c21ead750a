"""The submission use case as entry points hold it: built once by the composition root.

``myriagate.wiring.Gateway.submission`` puts together the cluster profiles, the Slurm
backends, the clock, the allocations switch and the residency policy; the API, the pages and
demo seeding call ``submit()`` and ``preview()`` with only what a request brings (a session,
a user, the submission, its staging).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from myriagate.db.models.jobs import Job
from myriagate.db.models.users import User
from myriagate.ports import Clock, SlurmBackendFactory
from myriagate.profiles.models import ClusterProfile
from myriagate.services.allocations.policy import Allocations
from myriagate.services.staging.plan import ResidencyContext, StagingRequest
from myriagate.services.submission.preview import SubmitPreview, preview_job
from myriagate.services.submission.submit import SubmitRequest, submit_job


@dataclass(frozen=True)
class Submitted:
    """A submitted job and the notices for its submitter (``ValidatedSubmission.notices``)."""

    job: Job
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Submission:
    """Submitting and previewing jobs on any configured cluster."""

    profile: Callable[[str], ClusterProfile]
    backends: Callable[[str], SlurmBackendFactory]
    clock: Clock
    allocations: Allocations
    # The residency policy for a request source ("api", "web", "cli", "demo").
    residency: Callable[[str], ResidencyContext]

    def submit(
        self, session: Session, user: User, request: SubmitRequest, staging: StagingRequest | None = None
    ) -> Submitted:
        """See ``submit_job``: the job as it stands after sbatch (or ``staging_in``), and the
        submission's notices."""
        notices: list[str] = []
        job = submit_job(
            session,
            backends=self.backends(request.cluster),
            profile=self.profile(request.cluster),
            user=user,
            request=request,
            clock=self.clock,
            ledger=self.allocations.hold_ledger(),
            staging=staging,
            residency=self.residency(request.source) if staging is not None else None,
            notices=notices,
        )
        return Submitted(job, tuple(notices))

    def preview(
        self, session: Session, user: User, request: SubmitRequest, staging: StagingRequest | None = None
    ) -> SubmitPreview:
        """See ``preview_job``: what ``submit`` would send, with nothing written or sent."""
        return preview_job(
            session,
            profile=self.profile(request.cluster),
            user=user,
            request=request,
            clock=self.clock,
            ledger=self.allocations.hold_ledger(),
            staging=staging,
            residency=self.residency(request.source) if staging is not None else None,
        )
