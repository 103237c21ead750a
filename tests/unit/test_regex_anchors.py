"""No pattern of the package ends with a bare ``$``: in Python it also matches before a final
newline, so ``re.compile(r"^\\d+$").match("123\\n")`` accepts a value that goes on to a shell,
an sbatch option or a URL with its newline (``--dependency=afterok:123\\n:456`` was read as two
jobs). Anchors are ``\\Z`` or ``fullmatch``; a multi-line pattern says ``re.MULTILINE``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from myriagate.errors import ConfigError, UnsafeValue
from myriagate.slurm import commands
from myriagate.staging.ssh_command import safe_option_path

PACKAGE = Path(__file__).resolve().parents[2] / "myriagate"
# The pattern (a double-quoted string literal) of a re.compile, re.match or re.search call.
_COMPILED = re.compile(r're\.(?:compile|match|search)\(\s*r?"((?:[^"\\]|\\.)*)"(?P<rest>[^)]*)\)')


def _bare_dollar_patterns() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for match in _COMPILED.finditer(path.read_text(encoding="utf-8")):
            pattern, rest = match.group(1), match.group("rest")
            if "MULTILINE" in rest or re.search(r"\bre\.M\b", rest):
                continue
            if re.search(r"(?<!\\)\$(?:\||\)*$)", pattern):
                found.append(f"{path.relative_to(PACKAGE.parent)}: {pattern}")
    return found


def test_no_pattern_is_anchored_with_a_bare_dollar() -> None:
    assert _bare_dollar_patterns() == []


def test_the_check_sees_a_bare_dollar_and_lets_the_safe_anchors_pass() -> None:
    calls = 're.compile(r"^a$") re.match(r"^a\\Z", s) re.compile(r"x\\$")'
    seen = [m.group(1) for m in _COMPILED.finditer(calls)]
    assert seen == ["^a$", "^a\\Z", "x\\$"]
    flagged = [p for p in seen if re.search(r"(?<!\\)\$(?:\||\)*$)", p)]
    assert flagged == ["^a$"]
    assert re.compile(r"^\d+$").match("123\n") and not re.compile(r"^\d+\Z").match("123\n")


def test_a_value_ending_in_a_newline_is_refused_where_a_match_was_anchored_with_dollar() -> None:
    # Before: each of these accepted its value with the newline (pattern.match with "^…$").
    with pytest.raises(ConfigError):
        safe_option_path("/var/lib/myriagate/known_hosts\n", "known_hosts")
    assert safe_option_path("/var/lib/myriagate/known_hosts", "known_hosts")
    with pytest.raises(UnsafeValue):
        commands.tag("mg:0123abcd\n")  # it travels in sbatch's --comment
    assert commands.tag("mg:0123abcd") == "mg:0123abcd"
