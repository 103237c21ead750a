"""The level filter that runs first in the logging pipeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from myriagate.logs import configure_logging


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def test_lines_below_the_level_are_dropped_and_the_others_written(
    restore_structlog: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("WARNING", json=True)
    log = structlog.get_logger("myriagate.test")
    log.info("quiet.line")
    log.warning("loud.line")
    err = capsys.readouterr().err
    assert "loud.line" in err
    assert "quiet.line" not in err


def test_a_non_stdlib_logger_factory_keeps_working(restore_structlog: None) -> None:
    # Tests silence output with ReturnLoggerFactory and keep the configured processors: the
    # level filter must not assume a stdlib logger (it raised AttributeError: 'disabled').
    configure_logging("INFO", json=True)
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    structlog.get_logger("myriagate.test").info("audit.recorded", action="token.create")
