"""--mail-user: Slurm mails only the job's owner, and the owner is told what was changed."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from myriagate.db.models import User
from myriagate.services.submission.submit import SubmitRequest, validate_submission
from tests.conftest import CLUSTER
from tests.fakes.profiles import dev_profile

SCRIPT = "#!/bin/bash\n#SBATCH --mail-type=END,FAIL\n#SBATCH --mail-user={address}\nsleep 1\n"


def validated(user: User, address: str) -> tuple[list[str], str | None, tuple[str, ...]]:
    request = SubmitRequest(script_text=SCRIPT.format(address=address), cluster=CLUSTER)
    result = validate_submission(profile=dev_profile(), user=user, request=request)
    mail_args = [a for a in result.script.sbatch_args if a.startswith("--mail-")]
    return mail_args, result.spec.mail_user, result.notices


def test_another_address_is_replaced_by_the_users_own_with_a_notice(session: Session, alice: User) -> None:
    alice.email = "alice@unicaen.fr"
    args, stored, notices = validated(alice, "labmate@univ-rouen.fr")
    assert args == ["--mail-type=END,FAIL", "--mail-user=alice@unicaen.fr"]
    assert stored == "alice@unicaen.fr"
    assert notices == (
        "--mail-user labmate@univ-rouen.fr replaced by your address alice@unicaen.fr: mail goes only to you",
    )


@pytest.mark.parametrize("written", ["alice@unicaen.fr", "Alice@UNICAEN.fr"])
def test_the_users_own_address_goes_through_without_a_notice(
    session: Session, alice: User, written: str
) -> None:
    alice.email = "alice@unicaen.fr"
    args, _, notices = validated(alice, written)
    assert args == ["--mail-type=END,FAIL", "--mail-user=alice@unicaen.fr"]  # as on record
    assert notices == ()


@pytest.mark.parametrize("on_record", [None, "", "not an address"])
def test_without_a_usable_address_on_record_mail_user_is_dropped_with_a_notice(
    session: Session, alice: User, on_record: str | None
) -> None:
    alice.email = on_record
    args, stored, notices = validated(alice, "labmate@univ-rouen.fr")
    assert args == ["--mail-type=END,FAIL"]  # Slurm then mails the cluster login, the owner
    assert stored is None
    assert len(notices) == 1 and notices[0].startswith(
        "--mail-user labmate@univ-rouen.fr dropped: you have no e-mail address on record"
    )


def test_mail_type_alone_is_accepted_as_written(session: Session, alice: User) -> None:
    request = SubmitRequest(script_text="#!/bin/bash\n#SBATCH --mail-type=ALL\ntrue\n", cluster=CLUSTER)
    result = validate_submission(profile=dev_profile(), user=alice, request=request)
    assert "--mail-type=ALL" in result.script.sbatch_args and result.notices == ()
