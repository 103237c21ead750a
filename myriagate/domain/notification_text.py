"""The plain-text e-mail of a notification, in French and English.

``render`` builds the subject and body from the event's payload (the same JSON a webhook
receives). Users have no stored language yet, so both languages are given, French first;
pass ``language`` to get one. Every value from a payload is cleaned of control characters
(a job name must never add a header line or fake a paragraph) and shortened.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from myriagate.domain.notifications import NotificationKind
from myriagate.errors import hours_said

PREFIX = "[myriagate]"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def clean(value: object, limit: int = 120) -> str:
    """One line of text: control characters (newlines included) become a space; long text is cut."""
    text = _CONTROL.sub(" ", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def hours(seconds: object, language: str = "en") -> str:
    """Core- or GPU-seconds as hours for people, in the language's number format: ``1,234.5``
    (en), ``1 234,5`` (fr, a narrow no-break space); whole hours without decimals; an amount
    that is not zero never reads 0 (``< 0.01``, ``< 0,01``)."""

    def number(amount: Decimal) -> str:
        english = f"{amount:,}"
        return english.replace(",", "\u202f").replace(".", ",") if language == "fr" else english

    return hours_said(int(seconds or 0), number)  # type: ignore[call-overload]


# (English, French) subject tails and first body lines per kind.
_JOB_TITLES: dict[NotificationKind, tuple[str, str]] = {
    NotificationKind.JOB_STARTED: ("started", "démarré"),
    NotificationKind.JOB_FINISHED: ("finished", "terminé"),
    NotificationKind.JOB_FAILED: ("failed", "en échec"),
    NotificationKind.JOB_STAGED: ("finished, results stored", "terminé, résultats stockés"),
}
_BALANCE_TITLES: dict[NotificationKind, tuple[str, str]] = {
    NotificationKind.BALANCE_BELOW_20: ("below 20% left", "moins de 20 % restants"),
    NotificationKind.BALANCE_BELOW_10: ("below 10% left", "moins de 10 % restants"),
    NotificationKind.BALANCE_EXHAUSTED: ("exhausted", "épuisée"),
    NotificationKind.GRANT_CHANGED: ("grant changed", "attribution modifiée"),
}


def render(kind: NotificationKind, payload: Mapping[str, Any], language: str | None = None) -> Message:
    """Subject and body of the e-mail for ``kind``; ``language`` "fr", "en" or None (both)."""
    if kind.is_job:
        subject_en, subject_fr, en, fr = _job(kind, payload)
    else:
        subject_en, subject_fr, en, fr = _allocation(kind, payload)
    if language == "en":
        return Message(f"{PREFIX} {subject_en}", _body([en]))
    if language == "fr":
        return Message(f"{PREFIX} {subject_fr}", _body([fr]))
    en_tail, fr_tail = (_JOB_TITLES | _BALANCE_TITLES)[kind]
    both = subject_en.removesuffix(en_tail) + f"{en_tail} / {fr_tail}"
    return Message(f"{PREFIX} {both}", _body([fr, en]))


def _body(parts: list[list[str]]) -> str:
    footer = [
        "",
        "-- ",
        "myriagate : préférences de notification / notification preferences : /api/v1/me/notifications",
    ]
    return "\n\n-----\n\n".join("\n".join(p) for p in parts) + "\n" + "\n".join(footer) + "\n"


def _job_label(payload: Mapping[str, Any]) -> str:
    ident = clean(payload.get("slurm_job_id") or str(payload.get("job_id", ""))[:8], 40)
    name = payload.get("job_name")
    return f"Job {ident} ({clean(name, 60)})" if name else f"Job {ident}"


def _job(kind: NotificationKind, p: Mapping[str, Any]) -> tuple[str, str, list[str], list[str]]:
    label = _job_label(p)
    en_title, fr_title = _JOB_TITLES[kind]
    cluster = clean(p.get("cluster", ""), 64)
    state = clean(p.get("state", ""), 32)
    reason = clean(p["reason"], 500) if p.get("reason") else ""
    en = [f"{label} on {cluster} {en_title}.", "", f"State: {state}"]
    fr = [f"{label.replace('Job', 'Tâche', 1)} sur {cluster} : {fr_title}.", "", f"État : {state}"]
    if p.get("exit_code") is not None:
        en.append(f"Exit code: {clean(p['exit_code'], 12)}")
        fr.append(f"Code de sortie : {clean(p['exit_code'], 12)}")
    if reason:
        en.append(f"Details: {reason}")
        fr.append(f"Détails : {reason}")
    en.append(f"Gateway job id: {clean(p.get('job_id', ''), 40)}")
    fr.append(f"Identifiant passerelle : {clean(p.get('job_id', ''), 40)}")
    return f"{label} {en_title}", f"{label.replace('Job', 'Tâche', 1)} {fr_title}", en, fr


def _allocation(kind: NotificationKind, p: Mapping[str, Any]) -> tuple[str, str, list[str], list[str]]:
    account = clean(p.get("slurm_account", ""), 64)
    cluster = clean(p.get("cluster", ""), 64)
    period = clean(p.get("period", ""), 80)
    en_title, fr_title = _BALANCE_TITLES[kind]
    label_en = f"Allocation {account} ({cluster}, {period})"
    label_fr = f"Allocation {account} ({cluster}, {period})"

    def both(key: str) -> tuple[str, str]:
        return hours(p.get(key), "en"), hours(p.get(key), "fr")

    (granted, granted_fr), (left, left_fr) = both("granted_core_seconds"), both("remaining_core_seconds")
    en = [f"{label_en}: {en_title}.", "", f"CPU-hours left: {left} of {granted}"]
    fr = [f"{label_fr} : {fr_title}.", "", f"Heures CPU restantes : {left_fr} sur {granted_fr}"]
    if int(p.get("granted_gpu_seconds") or 0) > 0:
        (g_granted, g_granted_fr), (g_left, g_left_fr) = (
            both("granted_gpu_seconds"),
            both("remaining_gpu_seconds"),
        )
        en.append(f"GPU-hours left: {g_left} of {g_granted}")
        fr.append(f"Heures GPU restantes : {g_left_fr} sur {g_granted_fr}")
    if kind is NotificationKind.GRANT_CHANGED:
        before, before_fr = both("previous_core_seconds")
        en.append(f"CPU-hours granted: {before} → {granted}")
        fr.append(f"Heures CPU attribuées : {before_fr} → {granted_fr}")
        for change in p.get("changes", [])[:10]:
            who, why = clean(change.get("author", ""), 80), clean(change.get("reason", ""), 200)
            delta, delta_fr = hours(change.get("core_seconds")), hours(change.get("core_seconds"), "fr")
            en.append(f"  {delta} CPU-hours by {who}" + (f": {why}" if why else ""))
            fr.append(f"  {delta_fr} heures CPU par {who}" + (f" : {why}" if why else ""))
    elif kind is NotificationKind.BALANCE_EXHAUSTED:
        en.append("New jobs of this project are refused until the allocation is topped up: the project's")
        en.append("lead can ask the university's administrators for a grant of more hours.")
        fr.append("Les nouvelles tâches de ce projet sont refusées jusqu'à un complément d'attribution : le")
        fr.append("responsable du projet peut en demander un aux administrateurs de l'université.")
    return f"{label_en} {en_title}", f"{label_fr} {fr_title}", en, fr
