"""Log records go to the stderr of the moment, not the one seen when logging was set up."""

from __future__ import annotations

import io
import json
import logging

import pytest

from myriagate.logs import configure_logging


def test_a_swapped_and_closed_stderr_does_not_break_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    first = io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure_logging(json=True)
    first.close()  # what pytest's capture does to the stream between two tests
    second = io.StringIO()
    monkeypatch.setattr("sys.stderr", second)
    logging.getLogger("myriagate.test").warning("after the swap")
    line = json.loads(second.getvalue().strip().splitlines()[-1])
    assert (line["event"], line["level"]) == ("after the swap", "warning")
