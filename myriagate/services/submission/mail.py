"""``--mail-user``: Slurm's mail goes to the job's owner only.

A script copied from a colleague often still carries their address; the gateway would then
have Slurm mail someone else about the user's job (and, through a gateway, to any address at
all). So ``--mail-user`` may only be the user's own address on record: any other is replaced
by it, with a notice; a user with no address on record (or one sbatch could not take) has
``--mail-user`` dropped, with a notice, and Slurm mails their cluster login as it does by
default. ``--mail-type`` is accepted as written (docs/notifications.md maps its events to the
gateway's own notifications).
"""

from __future__ import annotations

from myriagate.db.models.users import User
from myriagate.domain.jobs import JobSpec
from myriagate.domain.sbatch_options import kinds
from myriagate.errors import InvalidRequest


def only_to_owner(spec: JobSpec, user: User) -> tuple[JobSpec, tuple[str, ...]]:
    """``spec`` with ``--mail-user`` the user's own address (or none), and what was changed."""
    written = spec.mail_user
    if written is None:
        return spec, ()
    own = _usable(user.email)
    if own is None:
        notice = (
            f"--mail-user {written} dropped: you have no e-mail address on record, so Slurm's mail "
            "goes to your cluster login only (ask for your address to be set)"
        )
        return spec.model_copy(update={"mail_user": None}), (notice,)
    if written.lower() == own.lower():
        # The same address written in another case: the one on record goes (a mailbox's local
        # part may be case-sensitive), with nothing to tell.
        return spec.model_copy(update={"mail_user": own}), ()
    notice = f"--mail-user {written} replaced by your address {own}: mail goes only to you"
    return spec.model_copy(update={"mail_user": own}), (notice,)


def _usable(address: str | None) -> str | None:
    """The address as sbatch will be given it, or None when sbatch's reader would refuse it."""
    if not address:
        return None
    try:
        return kinds.email(address, kinds.ReadContext())
    except InvalidRequest:
        return None
