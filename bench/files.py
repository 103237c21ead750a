"""Listing a 10,000-entry directory through the gateway, side by side with ``ls -la``.

Run as root on a machine with the dev cluster up:

    python bench/files.py [--entries 10000] [--rounds 20]

alice's home gets a directory of ``--entries`` empty files (made as alice over SSH, removed at
the end). Then, ``--rounds`` times each, alternating, on the same pooled SSH connection of
alice's login (the gateway's own pool):

- ``list``: the gateway's listing use case (``file_browser(gateway).list``, one page of all entries,
  sorted by name: path checks, the far side's program sent and run, NUL-separated records
  parsed into entries, the page's cursor) — what the API handler calls;
- ``api_list``: the same through the REST API (uvicorn on a free port, alice's token, the JSON
  of 10,000 entries built and parsed), for what a client sees;
- anchor ``ls``: ``ls -la -- <dir>`` run as alice through an ``SshRunner`` on that same pool,
  its output only read (no parsing).

The last line is one JSON object: medians and p95 in ms, ``ratio_list_vs_ls`` (target <= 2)
and ``ratio_api_list_vs_ls``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for the harness

from in_process import p95, serve, timed  # bench/in_process.py (bench/ is on sys.path)

from myriagate.db.migrate import upgrade
from myriagate.db.repos import users as users_repo
from myriagate.runners import SshRunner
from myriagate.services.people import auth as auth_service
from myriagate.settings import Settings
from myriagate.wiring import ClusterBackends, build_gateway
from myriagate.wiring_files import file_browser

CLUSTER = "devcluster"
STATE = Path("/var/lib/myriagate-devcluster")
MAKE = """
import os, sys
base, count = sys.argv[1], int(sys.argv[2])
os.mkdir(base)
for i in range(count):
    os.close(os.open(os.path.join(base, "f%05d.dat" % i), os.O_CREAT | os.O_WRONLY, 0o644))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mg-bench-files-"))
    settings = Settings(
        dev_mode=True,
        ssh_ca_key_path=STATE / "ssh_user_ca",
        database_url=f"sqlite:///{tmp / 'gateway.db'}",
        log_level="WARNING",
    )
    upgrade(settings.database_url)
    gateway = build_gateway(settings)
    backends = gateway.backends(CLUSTER)
    assert isinstance(backends, ClusterBackends) and backends.pool is not None
    shell = SshRunner(backends.pool, "alice")  # the same pooled connection the listing uses
    name = f"mg-bench-files-{uuid.uuid4().hex[:8]}"
    directory = f"/home/alice/{name}"
    shell.run(["/usr/bin/python3", "-c", MAKE, directory, str(args.entries)], timeout=300)
    with gateway.session_factory() as session:
        alice = users_repo.add(
            session, username="alice@unicaen.fr", cluster_login="alice", created_at=datetime.now(UTC)
        )
        token = auth_service.create_token(session, alice, name="bench").secret
        session.commit()
        caller = users_repo.get(session, alice.id)
        assert caller is not None
        session.expunge(caller)
    browser = file_browser(gateway)
    base, server, thread = serve(gateway)
    base += "/api/v1"
    try:
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120)

        def listing() -> None:
            page = browser.list(caller, CLUSTER, "home", name, limit=args.entries)
            assert len(page.entries) == args.entries

        def api_listing() -> None:
            body = client.get(
                f"/clusters/{CLUSTER}/files/home/list", params={"path": name, "limit": args.entries}
            ).json()
            assert len(body["entries"]) == args.entries

        def ls() -> None:
            result = shell.run(["ls", "-la", "--", directory], timeout=120)
            assert result.stdout.count(b"\n") >= args.entries

        for warm in (listing, api_listing, ls):  # connections, caches, the program's first send
            warm()
        times: dict[str, list[float]] = {"list": [], "api_list": [], "ls": []}
        for _ in range(args.rounds):
            times["ls"].append(timed(ls))
            times["list"].append(timed(listing))
            times["api_list"].append(timed(api_listing))
        client.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
        gateway.close()
        shutil.rmtree(tmp, ignore_errors=True)
    figures: dict[str, Any] = {"entries": args.entries, "rounds": args.rounds}
    for what, values in times.items():
        figures[f"{what}_median_ms"] = round(statistics.median(values), 1)
        figures[f"{what}_p95_ms"] = round(p95(values), 1)
    figures["ratio_list_vs_ls"] = round(figures["list_median_ms"] / figures["ls_median_ms"], 2)
    figures["ratio_api_list_vs_ls"] = round(figures["api_list_median_ms"] / figures["ls_median_ms"], 2)
    for what in ("ls", "list", "api_list"):
        print(
            f"{what:9} median {figures[f'{what}_median_ms']:8.1f} ms  p95 {figures[f'{what}_p95_ms']:8.1f} ms"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
