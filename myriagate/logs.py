"""Structured logging: JSON lines in production, readable key=value lines in a terminal."""

from __future__ import annotations

import logging
import sys

import structlog


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
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
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
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # paramiko logs every channel at INFO; keep its warnings only.
    logging.getLogger("paramiko").setLevel(logging.WARNING)


def bind_user(user_id: object, username: str) -> None:
    """Tag every later log line of the current request (its context) with who made it.

    Called once the caller is authenticated; the request's context is dropped with its task,
    so the next request starts without a user.
    """
    structlog.contextvars.bind_contextvars(user_id=str(user_id), user=username)
