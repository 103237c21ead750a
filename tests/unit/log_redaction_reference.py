"""The log redaction as it was before its cheap screens (myriagate/logs.py at 910f4fd), kept
as the oracle of tests/unit/test_log_redaction_screens.py: every regex run on every value,
the name taken from any word boundary. The screened version must write the very same lines.

Frozen on purpose: a deliberate change to what is redacted changes this copy too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
_SENSITIVE_WORDS = (
    r"password|passwd|passphrase|secret|token|csrf|session|cookie|authorization|api[_-]?key"
    r"|private[_-]?key|credential|signature"
)
_SECRET_NAME = re.compile(_SENSITIVE_WORDS, re.IGNORECASE)
_NOT_SECRET_NAME = re.compile(
    r"(_id|_ids|_prefix|_count|_at|_s|_days|_bytes|_path|_file|_name|_header|_set|_enabled)$"
)

_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
_OPENSSH_KEY_BLOB = re.compile(r"b3BlbnNzaC1rZXktdjE[A-Za-z0-9+/=]*")  # base64 of "openssh-key-v1"
_SSH_CERTIFICATE = re.compile(r"([a-z0-9-]+-cert-v0[01]@openssh\.com)(\s+)[A-Za-z0-9+/]{16,}=*")
# scheme, user info, host[:port], then the rest (path, query, fragment) up to a quote or space.
_URL = re.compile(
    r"\b([A-Za-z][A-Za-z0-9+.-]{1,20})://([^\s/?#@'\"<>\\]*@)?([^\s/?#'\"<>\\]*)([^\s'\"<>\\]*)"
)
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/-]{8,}=*", re.IGNORECASE)
_OUR_TOKEN = re.compile(r"\bmgt_[A-Za-z0-9_-]{16,}")  # services/people/auth.py: mgt_ + 43 url-safe characters
_NAMED_VALUE = re.compile(
    rf"(?i)\b([\w.-]*(?:{_SENSITIVE_WORDS})[\w.-]*)(['\"]?\s*[:=]\s*)((?:b(?=['\"]))?)('[^']*'|\"[^\"]*\"|[^\s'\",;&)}}\]]+)"
)
_hidden: tuple[str, ...] = ()  # the tests set it to myriagate.logs._hidden


def redact_url(url: str) -> str:
    return _URL.sub(_redact_url_match, url)


def _redact_url_match(match: re.Match[str]) -> str:
    scheme, userinfo, host, rest = match.group(1), match.group(2) or "", match.group(3), match.group(4)
    web = scheme.lower() in ("http", "https")
    if userinfo and (web or ":" in userinfo):
        userinfo = f"{REDACTED}@" if web else userinfo.split(":", 1)[0] + f":{REDACTED}@"
    if web and rest not in ("", "/"):
        rest = f"/{REDACTED}"
    return f"{scheme}://{userinfo}{host}{rest}"


def _redact_named_value(match: re.Match[str]) -> str:
    name, separator, prefix, value = match.groups()
    bare = value.strip("'\"")
    # Already redacted, nothing to hide, an auth scheme (its credential is handled by
    # _AUTH_SCHEME), or a name that only looks like a secret's (``session_ttl_s=28800``).
    if bare.startswith(REDACTED[:-1]) or bare in ("None", "") or bare.lower() in ("bearer", "basic"):
        return match.group(0)
    if not is_secret_name(name):
        return match.group(0)
    quote_mark = value[0] if value[0] in "'\"" else ""
    return f"{name}{separator}{prefix}{quote_mark}{REDACTED}{quote_mark}"


def redact_text(text: str) -> str:
    """``text`` without the secrets it shows by their shape or that ``hide_values`` named."""
    for value in _hidden:
        if value in text:
            text = text.replace(value, REDACTED)
    if "PRIVATE KEY-----" in text:
        text = _PEM_PRIVATE_KEY.sub(lambda m: f"-----BEGIN {m.group(1)}----- {REDACTED}", text)
    if "b3BlbnNzaC1rZXktdjE" in text:
        text = _OPENSSH_KEY_BLOB.sub(REDACTED, text)
    if "-cert-v0" in text:
        text = _SSH_CERTIFICATE.sub(rf"\1\2{REDACTED}", text)
    if "://" in text:
        text = redact_url(text)
    text = _AUTH_SCHEME.sub(rf"\1\2{REDACTED}", text)
    if "mgt_" in text:
        text = _OUR_TOKEN.sub(f"mgt_{REDACTED}", text)
    return _NAMED_VALUE.sub(_redact_named_value, text)


def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (``password``, ``Set-Cookie``, ``csrf_token``)."""
    normalised = name.lower().replace("-", "_")
    return bool(_SECRET_NAME.search(normalised)) and not _NOT_SECRET_NAME.search(normalised)


def _redact_value(name: object, value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(name, str) and name != "event" and is_secret_name(name):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if depth < 4 and isinstance(value, Mapping):
        return {key: _redact_value(key, item, depth + 1) for key, item in value.items()}
    if depth < 4 and isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(None, item, depth + 1) for item in value]
    shown = repr(value)  # what the JSON renderer would write for an object it does not know
    redacted = redact_text(shown)
    return value if redacted == shown else redacted


def redact_secrets(event_dict: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _redact_value(key, value) for key, value in event_dict.items()}
