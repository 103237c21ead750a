"""Logging configured by one test (``serve``, ``worker`` or an operator command run in-process
configure it at INFO, writing to whatever ``sys.stderr`` is) is undone after it: left so, the
API's and httpx's lines went into the captured stderr of later CLI tests, which failed when the
tests ran in another order (``pytest -p randomly``)."""

from __future__ import annotations

import logging

import pytest
import structlog

from myriagate.logs import configure_logging
from tests.conftest import kept_logging


def test_logging_configured_in_the_block_is_undone_after_it() -> None:
    root = logging.getLogger()
    before = (root.handlers[:], root.level, structlog.get_config())
    with kept_logging():
        configure_logging("INFO", json=True)
        assert root.handlers != before[0] and root.level == logging.INFO
    assert (root.handlers, root.level, structlog.get_config()) == before


def test_every_test_leaves_logging_as_it_found_it(request: pytest.FixtureRequest) -> None:
    assert "_logging_left_as_found" in request.fixturenames
