"""A job's explanation (``domain.job_explanations``) said in a language, for the pages and the
API alike: the same words reach the job page, ``GET /api/v1/jobs/{id}`` and ``myriagate jobs
show`` (which prints the API's text)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from myriagate.domain.job_explanations import JobFacts, Phrase, explain, signal_phrase
from myriagate.domain.states import JobState
from myriagate.web.i18n import LANGUAGES, Translator


def say(phrase: Phrase, t: Translator) -> str:
    """``phrase`` in ``t``'s language, decimals with one digit (``1.2 GB``, ``1,2 Go``)."""

    def number(value: Decimal) -> str:
        return t.number(value, digits=1)

    return phrase.say(t.gettext, number)


@dataclass(frozen=True)
class SaidExplanation:
    """An explanation in one language: what a page shows."""

    code: str
    text: str
    hint: str | None
    slurm_code: str | None


def said(job: JobFacts, t: Translator) -> SaidExplanation | None:
    """Why ``job`` waits or how it ended, in ``t``'s language (None: nothing to explain)."""
    found = explain(job)
    if found is None:
        return None
    hint = say(found.hint, t) if found.hint is not None else None
    # Slurm's code as it wrote it; a reason the gateway wrote itself (a staging failure) is
    # said in the reader's language (web/stored_text.py): the API's "fr" and French pages.
    code = t.stored(found.slurm_code) if found.slurm_code else found.slurm_code
    return SaidExplanation(found.code, say(found.text, t), hint, code)


def in_every_language(job: JobFacts) -> dict[str, SaidExplanation] | None:
    """The explanation in each language the gateway speaks ({"en": …, "fr": …}), for the API."""
    if explain(job) is None:
        return None
    out: dict[str, SaidExplanation] = {}
    for lang in LANGUAGES:
        found = said(job, Translator(lang))
        if found is not None:
            out[lang] = found
    return out


def ended_by(job: JobFacts, t: Translator) -> str | None:
    """The words "killed by signal 9 (SIGKILL)" for a job a signal ended, in ``t``'s language: its page
    shows this instead of an exit code (sacct prints ``0`` there, which means nothing). A
    cancelled or timed-out job has neither line: its explanation says how it ended."""
    if job.state is JobState.FAILED and job.signal:
        return say(signal_phrase(job.signal), t)
    return None
