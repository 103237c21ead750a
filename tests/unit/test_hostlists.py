"""Slurm hostlists: what profiles' ``nodes`` and jobs' --nodelist/--exclude may say."""

from __future__ import annotations

import pytest

from myriagate.domain import hostlists
from myriagate.errors import UnsafeValue


@pytest.mark.parametrize(
    ("hostlist", "hosts"),
    [
        ("vm", ("vm",)),
        ("node[001-003,007]", ("node001", "node002", "node003", "node007")),
        ("node[8-10]", ("node8", "node9", "node10")),
        ("node[08-10]", ("node08", "node09", "node10")),
        ("gpu[1-2],visu1", ("gpu1", "gpu2", "visu1")),
        ("r[1-2]n[1-2]", ("r1n1", "r1n2", "r2n1", "r2n2")),
        ("node[1-2]-ib", ("node1-ib", "node2-ib")),
        ("vm,vm,node1", ("vm", "node1")),
        ("my-node.example_1", ("my-node.example_1",)),
    ],
)
def test_expand(hostlist: str, hosts: tuple[str, ...]) -> None:
    assert hostlists.expand(hostlist) == hosts
    assert hostlists.check(hostlist) == hostlist


def test_contains() -> None:
    assert hostlists.contains("node[001-004]", "node003")
    assert not hostlists.contains("node[001-004]", "node3")
    assert not hostlists.contains("node[001-004]", "node005")


@pytest.mark.parametrize(
    ("hostlist", "message"),
    [
        ("node[1-[2-3]]", "brackets inside brackets"),
        ("node[1-3", "never closed"),
        ("node1-3]", "closes no"),
        ("node[3-1]", "goes backwards"),
        ("node[a-c]", "numbers and ranges"),
        ("node[]", "numbers and ranges"),
        ("node[1-3:2]", "numbers and ranges"),
        ("a,,b", "empty name"),
        ("a,", "empty name"),
        ("", "must not be empty"),
        ("node 1", "not a host name"),
        ("node;id", "not a host name"),
        ("node\n", "not a host name"),
        ("-node1", "cannot start with '-'"),
        ("n[1-100000]x[1-100]", "more than"),
        ("n[0-999999999]", "more than"),
    ],
)
def test_refused_clearly(hostlist: str, message: str) -> None:
    with pytest.raises(UnsafeValue, match=message.replace("[", r"\[")) as caught:
        hostlists.expand(hostlist, field="nodes")
    assert caught.value.detail.startswith("nodes")
