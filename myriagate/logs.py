"""Structured logging: JSON lines in production, readable key=value lines in a terminal.

Every line passes through ``redact_secrets`` last, whoever wrote it (our code, uvicorn, httpx,
paramiko), tracebacks included: log readers (operators, a log shipper, a support ticket) must
not get what would let them act as someone (docs/operations.md, "Logs").
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

import structlog
from structlog.types import EventDict


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted, unless given a stream.

    A handler that kept the stream of the moment it was made would write to a closed file
    once that stream is swapped out (pytest's capture, a daemon redirecting its output).
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # not StreamHandler's: it would pin today's stderr
        self._fixed: object | None = None

    @property
    def stream(self) -> object:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:  # ``setStream`` pins an explicit stream
        self._fixed = value


_LEVEL_OF_METHOD = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def drop_below_level(logger: object, method_name: str, event_dict: EventDict) -> EventDict:
    """Drop a line its stdlib logger would not emit, before any work is done on it.

    Like ``structlog.stdlib.filter_by_level``, but a logger that is not a stdlib one (a test
    silencing output with ``ReturnLoggerFactory`` while keeping these processors) passes
    instead of raising AttributeError.
    """
    is_enabled_for = getattr(logger, "isEnabledFor", None)
    level = _LEVEL_OF_METHOD.get(method_name)
    if is_enabled_for is not None and level is not None and not is_enabled_for(level):
        raise structlog.DropEvent
    return event_dict


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Route stdlib and structlog records through one structlog pipeline to stderr."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        # A line below the level is dropped first, before the context is merged and the time
        # formatted for nothing (the handler would drop it anyway).
        processors=[
            drop_below_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a module-level logger must follow a later reconfiguration (the CLI
        # configures early, ``serve``/``worker`` again from settings, tests capture logs).
        cache_logger_on_first_use=False,
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_secrets,  # after the traceback is text, before anything is written
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access line carries the query string: its values are dropped at the source.
    logging.getLogger("uvicorn.access").addFilter(_ACCESS_QUERY_FILTER)
    # paramiko logs every channel at INFO; keep its warnings only.
    logging.getLogger("paramiko").setLevel(logging.WARNING)


def bind_user(user_id: object, username: str) -> None:
    """Tag every later log line of the current request (its context) with who made it.

    Called once the caller is authenticated; the request's context is dropped with its task,
    so the next request starts without a user.
    """
    structlog.contextvars.bind_contextvars(user_id=str(user_id), user=username)


# --- redaction ----------------------------------------------------------------------------------
REDACTED = "[redacted]"

# Words that make a field name (or a ``name=value`` in text) a secret's. Names ending like an
# id, a prefix, a count, a time or a path are not secrets (``token_id``, ``ssh_ca_key_path``).
_SENSITIVE_WORDS = (
    r"password|passwd|passphrase|secret|token|csrf|session|cookie|authorization|api[_-]?key"
    r"|private[_-]?key|credential|signature"
)
_SECRET_NAME = re.compile(_SENSITIVE_WORDS, re.IGNORECASE)
_NOT_SECRET_NAME = re.compile(
    r"(_id|_ids|_prefix|_count|_at|_s|_days|_bytes|_path|_file|_name|_header|_set|_enabled)\Z"
)

_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
_OPENSSH_KEY_BLOB = re.compile(r"b3BlbnNzaC1rZXktdjE[A-Za-z0-9+/=]*")  # base64 of "openssh-key-v1"
# The key type's last character stands for all of it (``ssh-ed25519-cert-v01@openssh.com``):
# it is written back as it was, so the line is the same, and with the whole type
# ([a-z0-9-]+) each start in a long run of [a-z0-9-] scanned the rest of it (1.9 s for 32 kB).
_SSH_CERTIFICATE = re.compile(r"([a-z0-9-]-cert-v0[01]@openssh\.com)(\s+)[A-Za-z0-9+/]{16,}=*")
# scheme, user info, host[:port], then the rest (path, query, fragment) up to a quote or space.
_URL = re.compile(
    r"\b([A-Za-z][A-Za-z0-9+.-]{1,20})://([^\s/?#@'\"<>\\]*@)?([^\s/?#'\"<>\\]*)([^\s'\"<>\\]*)"
)
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/-]{8,}=*", re.IGNORECASE)
_OUR_TOKEN = re.compile(r"\bmgt_[A-Za-z0-9_-]{16,}")  # services/people/auth.py: mgt_ + 43 url-safe characters
# The name is taken from the start of its run of [\w.-], not from any \b in it: from each \b
# that dots and dashes make, the engine scanned the rest of the run again (70 µs for a uuid,
# 20 s for 16 kB of "a.a.a."). Where \b started it, the name began at the run's first \w,
# after any leading dots or dashes: the line is the same, and so is ``is_secret_name``. The
# lookahead passes over a run not followed by its separator before the words are tried in it
# (a third of the time on a traceback).
_NAMED_VALUE = re.compile(
    rf"(?i)(?<![\w.-])(?=[\w.-]++['\"]?\s*[:=])([\w.-]*(?:{_SENSITIVE_WORDS})[\w.-]*)(['\"]?\s*[:=]\s*)((?:b(?=['\"]))?)('[^']*'|\"[^\"]*\"|[^\s'\",;&)}}\]]+)"
)
# Cheap screens: a text holds one of these (as IGNORECASE sees it) or the pattern cannot match.
# A stem per alternative of _SENSITIVE_WORDS ("key" for both kinds of key) and the schemes.
_SENSITIVE_STEMS = (
    "pass", "secret", "token", "csrf", "session", "cookie", "authorization", "key", "credential", "signature"
)  # fmt: skip
_AUTH_SCHEMES = ("bearer", "basic")

_hidden: tuple[str, ...] = ()  # exact values from the settings (``hide_values``), longest first
_MIN_HIDDEN_LENGTH = 8  # shorter values would blank ordinary words


def hide_values(*values: str | None) -> None:
    """Redact these exact values wherever they appear in a log line from now on.

    For the secrets the settings hold (``MYRIAGATE_SECRET_KEY``, the SMTP and database
    passwords), which have no recognisable shape: a ``Settings`` repr in a traceback, an
    error message quoting a connection string, are caught by value.
    """
    global _hidden
    new = {
        v
        for value in values
        if value and len(value) >= _MIN_HIDDEN_LENGTH
        for v in (value, quote(value, safe=""), unquote(value))
        if len(v) >= _MIN_HIDDEN_LENGTH
    }
    if not new <= set(_hidden):
        _hidden = tuple(sorted(set(_hidden) | new, key=len, reverse=True))


def redact_url(url: str) -> str:
    """``url`` fit for a log line: an http(s) URL keeps its scheme, host and port only (webhook
    services put their tokens in the path and query: Slack's ``/services/T…/B…/<secret>``);
    any URL loses the password of its user info (``postgresql://user:[redacted]@host/db``)."""
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
    if _may_hold(text, _AUTH_SCHEMES):
        text = _AUTH_SCHEME.sub(rf"\1\2{REDACTED}", text)
    if "mgt_" in text:
        text = _OUR_TOKEN.sub(f"mgt_{REDACTED}", text)
    if ("=" in text or ":" in text) and _may_hold(text, _SENSITIVE_STEMS):
        text = _NAMED_VALUE.sub(_redact_named_value, text)
    return text


def _may_hold(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` may hold one of the lower-case ``words`` as an IGNORECASE pattern sees
    them: most values (ids, numbers, times, paths) hold none, and a substring test costs far
    less than the pattern. Only ASCII text is screened: beyond it IGNORECASE also takes 'ſ'
    for s, 'K' (Kelvin) for k, 'ı' and 'İ' for i, which ``lower()`` does not give."""
    if not text.isascii():
        return True
    lowered = text.lower()
    for word in words:  # noqa: SIM110  (half the time of any() on a short value)
        if word in lowered:
            return True
    return False


@functools.lru_cache(maxsize=1024)  # field names are few; the bound is for names found in text
def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (``password``, ``Set-Cookie``, ``csrf_token``)."""
    normalised = name.lower().replace("-", "_")
    return bool(_SECRET_NAME.search(normalised)) and not _NOT_SECRET_NAME.search(normalised)


_NUMBERS = (int, float)  # bool is an int; tuples, not ``int | float``: built on each call
_SEQUENCES = (list, tuple, set, frozenset)


def _redact_value(name: object, value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, _NUMBERS):
        return value
    if isinstance(name, str) and name != "event" and is_secret_name(name):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if depth < 4 and isinstance(value, Mapping):
        return {key: _redact_value(key, item, depth + 1) for key, item in value.items()}
    if depth < 4 and isinstance(value, _SEQUENCES):
        return [_redact_value(None, item, depth + 1) for item in value]
    shown = repr(value)  # what the JSON renderer would write for an object it does not know
    redacted = redact_text(shown)
    return value if redacted == shown else redacted


def redact_secrets(
    _logger: object, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """structlog processor: blank secrets by field name, and by shape or known value anywhere
    in the text (the message, every field, the rendered traceback)."""
    return {key: _redact_value(key, value) for key, value in event_dict.items()}


class _AccessQueryFilter(logging.Filter):
    """uvicorn's access line is ``client - "METHOD path?query HTTP/v" status``: a query string
    can carry a token (a client that put it there), so its values are redacted, names kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            path, _, query = args[2].partition("?")
            kept = "&".join(
                f"{part.split('=', 1)[0]}={REDACTED}" if "=" in part else REDACTED
                for part in query.split("&")
            )
            record.args = (*args[:2], f"{path}?{kept}", *args[3:])
        return True


_ACCESS_QUERY_FILTER = _AccessQueryFilter()
