"""A corpus script through the gateway's own checks, without a cluster or a database.

``gateway_verdict`` is the one place that knows how the submission service is called: when
its signature changes (notices returned, the user's address passed for ``--mail-user``),
only this module follows.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from myriagate.db.models.users import Membership, Project, User
from myriagate.domain import directives
from myriagate.domain.jobs import JobSpec
from myriagate.errors import MyriagateError
from myriagate.profiles.loader import parse_profile
from myriagate.profiles.models import ClusterProfile
from myriagate.services.submission.submit import SubmitRequest, validate_submission
from tests.corpus.capabilities import PROFILE
from tests.corpus.loader import Entry, Placeholders

CLUSTER = "devcluster"
# The corpus's test users, as on the dev cluster (deploy/devcluster/up.sh).
USERS = {
    "alice": ("alice@unicaen.fr", "caen-climat"),
    "bob": ("bob@univ-rouen.fr", "rouen-chimie"),
}


@dataclass(frozen=True)
class Verdict:
    """What the gateway makes of a script it accepts: the spec, sbatch's argv, its notices."""

    spec: JobSpec
    sbatch_args: tuple[str, ...]
    notices: tuple[str, ...]


def devcluster_profile() -> ClusterProfile:
    return parse_profile(PROFILE.read_text(encoding="utf-8"), source=str(PROFILE))


def corpus_user(login: str = "alice") -> User:
    """A gateway user (not stored anywhere) with the login's one account on the dev cluster."""
    address, account = USERS[login]
    now = datetime(2026, 1, 5, tzinfo=UTC)
    project = Project(id=uuid.uuid4(), cluster=CLUSTER, slurm_account=account, institution="tests",
                      name=account, created_at=now)  # fmt: skip
    user = User(id=uuid.uuid4(), username=address, email=address, cluster_login=login, is_active=True,
                created_at=now)  # fmt: skip
    user.memberships = [Membership(project=project)]
    return user


def error_text(exc: MyriagateError) -> str:
    """Everything the user is shown for a refusal: the detail and each field's message."""
    return "\n".join([exc.detail, *(f.message for f in exc.fields)])


def _notices(found: Iterable[object]) -> tuple[str, ...]:
    out: list[str] = []
    for item in found:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Iterable):
            out.extend(str(n) for n in item)
    return tuple(out)


def _domain_notices(text: str) -> tuple[str, ...]:
    """Notices the option table's reader gives (BOM, CRLF, old option names), if it has them."""
    normalise = getattr(directives, "normalise_script", None)
    notices_of = getattr(directives, "notices_of", None)
    found: list[str] = []
    if normalise is not None:
        text, changed = normalise(text)
        found.extend(changed)
    if notices_of is not None:
        with contextlib.suppress(MyriagateError):  # a refusal is the verdict's to report
            found.extend(notices_of(directives.parse_directives(text)))
    return tuple(found)


def gateway_verdict(
    entry: Entry, profile: ClusterProfile, user: User, values: Placeholders | None = None
) -> Verdict:
    """``entry`` through ``validate_submission``; raises the gateway's refusal as is."""
    text = entry.text_with(values or Placeholders())
    request = SubmitRequest(script_text=text, cluster=CLUSTER, overrides=entry.overrides())
    result = validate_submission(profile=profile, user=user, request=request)
    spec, script = result[0], result[1]
    extra: list[object] = list(result[2:])
    extra += [getattr(spec, "notices", ()), getattr(script, "notices", ())]
    notices = tuple(dict.fromkeys(_notices(extra) + _domain_notices(text)))
    return Verdict(spec=spec, sbatch_args=script.sbatch_args, notices=notices)
