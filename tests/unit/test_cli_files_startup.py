"""`myriagate files ls` runs on the client install (issue #17): it imports no server package and
no other command's module (tests/unit/test_cli_startup.py checks the other commands so)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from myriagate.cli.lazy import SERVER_PACKAGES

PROBE = """
import json, sys
import httpx
from myriagate.cli.context import CliDeps
from myriagate.cli.main import app

ENTRY = {"name": "out.txt", "path": "out.txt", "exact": True, "type": "file", "size_bytes": 3,
         "modified_at": "2026-01-05T09:00:00+00:00", "permissions": "-rw-r--r--", "mode": "0644",
         "uid": 1000, "gid": 1000}

def answer(request):
    if request.url.path.endswith("/clusters"):
        return httpx.Response(200, json=[{"name": "devcluster", "display_name": None, "slurm_version": "25",
                                          "is_default": True, "partitions": []}])
    return httpx.Response(200, json={"cluster": "devcluster", "area": "home", "path": "", "total": 1,
                                     "entries": [ENTRY], "next_cursor": None})

obj = CliDeps(http=httpx.Client(transport=httpx.MockTransport(answer)))
try:
    app(["files", "ls", "-l"], obj=obj, prog_name="myriagate")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_files_ls_imports_no_server_package_and_no_other_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYRIAGATE_")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path), "MYRIAGATE_URL": "http://gateway.test",
            "MYRIAGATE_TOKEN": "mgt_probe", "COLUMNS": "80", "NO_COLOR": "1"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=False)
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["code"] == 0, done.stdout + done.stderr
    assert "out.txt" in done.stdout
    modules = set(report["modules"])
    assert sorted(m for m in modules if m.partition(".")[0] in SERVER_PACKAGES) == []
    assert "myriagate.cli.files" in modules
    assert not {"myriagate.cli.jobs", "myriagate.cli.submit", "myriagate.cli.datasets"} & modules
