"""Messages the worker stored as English text are said again in French (issue #15): a job's
reason and its staging plan's last error keep the English sentence only, and French pages
showed it as it was. ``Translator.stored`` recognises the gateway's own messages, nested ones
too, and leaves anything else (Slurm's words, a path, a job name) as it was written."""

from __future__ import annotations

import pytest

from myriagate.errors import Text
from myriagate.web.i18n import Translator

FR, EN = Translator("fr"), Translator("en")

# Messages as the adapters and the staging step say them (errors.Text), stored as their English.
SAID = [
    Text(
        "%(what)s: %(path)s arrived with sha256 %(got)s, expected %(expected)s",
        what=Text("job output"), path="'results/out.h5'", got="0" * 64, expected="1" * 64,
    ),
    Text(
        "sha256 computed on %(place)s differs from the source for %(files)s; nothing was written under "
        "the final name and the partial data was deleted",
        place="127.0.0.1:2223", files="'a.txt', 'b.txt'",
    ),
    Text(
        "%(what)s: %(n)s file(s) missing after the transfer, e.g. %(path)s",
        what=Text("dataset %(dataset)s (fetched)", dataset="1234-abcd"), n=2, path="'x.csv'",
    ),
    Text("the cursor is not one this gateway handed out; start again without it"),
    Text("cancelled before Slurm got it"),
    Text("the gateway is not set up for this transfer; its administrators have the details"),
    Text(
        "lost by Slurm: neither the queue nor the accounting knows job %(slurm_job_id)s after "
        "%(hours)s h; its hold was released",
        slurm_job_id="4242", hours="2",
    ),
    Text("dependency never satisfied: %(why)s", why=Text("job %(ref)s no longer exists", ref="4941")),
]  # fmt: skip


@pytest.mark.parametrize("message", SAID, ids=lambda m: m.msgid[:30])
def test_a_stored_message_is_said_as_its_text_would_be(message: Text) -> None:
    stored = str(message)  # what the database keeps
    assert FR.stored(stored) == FR.text(message) != stored
    assert EN.stored(stored) == stored


def test_a_staging_reason_holding_an_adapters_message_is_french_all_through() -> None:
    detail = Text(
        "%(what)s: %(path)s arrived with sha256 %(got)s, expected %(expected)s",
        what=Text("job output"), path="'out.h5'", got="0" * 64, expected="1" * 64,
    )  # fmt: skip
    reason = f"stage-out failed: {detail}"  # services/staging/step.py
    assert FR.stored(reason) == (
        "la copie des résultats a échoué : résultats du job : 'out.h5' est arrivé avec le sha256 "
        + "0" * 64 + " au lieu de " + "1" * 64 + " attendu"
    )  # fmt: skip


@pytest.mark.parametrize(
    "text", ["QOSMaxJobsPerUserLimit", "0:9", "/home/alice/run.sh", "the job's own words", "", "%(x)s"]
)
def test_anything_else_is_shown_as_it_was_written(text: str) -> None:
    assert FR.stored(text) == text


def test_a_dependency_that_can_never_be_satisfied_is_french_down_to_the_dependees_reason() -> None:
    # services/jobs/waiting.py and dependents.py: the clause, the job's state, then its own reason.
    stored = (
        "dependency never satisfied: afterok:4940 can never be satisfied: job 0b7e ended failed "
        "(stage-in failed: upload 12 is gone)"
    )
    assert FR.stored(stored) == (
        "dépendance jamais satisfaite : afterok:4940 ne peut jamais être satisfaite : le job 0b7e s'est "
        "terminé ainsi : échoué (la copie des fichiers d'entrée a échoué : le dépôt 12 n'existe plus)"
    )


def test_an_interrupted_copy_says_the_stagers_message_in_french() -> None:
    # services/staging/step.py around staging/outcomes.py's message of a lost connection.
    lost = Text(
        "connection to %(where)s lost: %(detail)s; calling again resumes",
        where="alice@127.0.0.1:2222", detail="Broken pipe",
    )  # fmt: skip
    stored = f"stage-in interrupted ({lost}); retry 2 in 5 s"
    assert FR.stored(stored) == (
        "la copie des fichiers d'entrée a été interrompue (connexion à alice@127.0.0.1:2222 perdue : "
        "Broken pipe ; une nouvelle tentative reprendra là où elle s'est arrêtée) ; tentative 2 dans 5 s"
    )


def test_a_dataset_transfers_failed_note_is_french_all_through() -> None:
    """Issue #17 trial: `datasets copy-to --wait` printed "failed: …" in English to a French
    researcher, and the transfer's page too: "failed: " is too short to be recognised, and a
    note whose error was a known message was misread ("failed: 'home:/x'" taken for its path)."""
    inner = Text("%(path)s holds no file that can be stored", path="'home:/h6shared'")
    said = FR.stored("failed: " + str(inner))
    assert said == "échoué : " + str(FR.text(inner))
    assert FR.stored("failed: " + str(SAID[0])).startswith("échoué : résultats du job : ")
    assert FR.stored("interrupted (the cluster is unreachable); retry 2 in 30 s").startswith("interrompu (")
    assert EN.stored("failed: x") == "failed: x"
