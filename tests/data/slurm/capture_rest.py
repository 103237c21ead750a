"""Capture slurmrestd's real answers into ``rest/`` (run as root on the dev cluster).

    python tests/data/slurm/capture_rest.py

Submits, as ``alice`` with a token minted from the cluster's key: a job that exits 3, a
2-task array whose task 1 exits 1, a held job and a held 3-task array; waits for the first two
to end, then saves the controller's and accounting's views of those four jobs plus the answers
the error mapping reads (a refused partition, a forged token, nothing found, cancels). The
held jobs are cancelled at the end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

URL = "http://127.0.0.1:6820"
KEY = Path("/var/spool/slurmctld/jwt_hs256.key")
OUT = Path(__file__).resolve().parent / "rest"
ENV = {"HOME": "/home/alice", "USER": "alice", "LOGNAME": "alice", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def token(user: str, key: bytes, life: int = 60) -> str:
    now = int(time.time())
    return jwt.encode({"sun": user, "iat": now, "exp": now + life}, key, algorithm="HS256")


def main() -> None:
    key = KEY.read_bytes()
    http = httpx.Client(base_url=URL, timeout=30)
    alice = {"X-SLURM-USER-NAME": "alice", "X-SLURM-USER-TOKEN": token("alice", key)}
    OUT.mkdir(exist_ok=True)

    def save(name: str, response: httpx.Response) -> Any:
        body = response.json()
        (OUT / f"{name}.json").write_text(
            json.dumps({"status": response.status_code, "body": body}, indent=1)
        )
        return body

    def submit(fixture: str, script: str, tag: str, **job: Any) -> int:
        job = {"partition": "debug", "current_working_directory": "/tmp", "standard_output": "/dev/null",
               "environment": ENV, "comment": tag} | job  # fmt: skip
        answer = http.post("/slurm/v0.0.38/job/submit", headers=alice, json={"script": script, "job": job})
        return int(save(fixture, answer)["job_id"])

    failed = submit("submit_ok", "#!/bin/sh\nexit 3\n", "mg:capture-exit3", name="exit3")
    array = submit(
        "submit_array", '#!/bin/sh\nexit "$SLURM_ARRAY_TASK_ID"\n', "mg:capture-array", array="0-1"
    )
    held = submit("submit_held", "#!/bin/sh\nsleep 30\n", "mg:capture-held", hold=True)
    folded = submit("submit_held_array", "#!/bin/sh\nsleep 30\n", "mg:capture-folded", hold=True, array="0-2")
    ids = {failed, array, held, folded}
    time.sleep(10)
    controller = http.get("/slurm/v0.0.38/jobs", headers=alice).json()
    controller["jobs"] = [j for j in controller["jobs"] if (j["array_job_id"] or j["job_id"]) in ids]
    (OUT / "jobs.json").write_text(json.dumps({"status": 200, "body": controller}, indent=1))
    steps = ",".join(str(i) for i in sorted(ids))
    save(
        "db_jobs",
        http.get("/slurmdb/v0.0.38/jobs", headers=alice, params={"step": steps, "skip_steps": "true"}),
    )
    bad = {
        "script": "#!/bin/sh\n",
        "job": {"partition": "nope", "environment": ENV, "current_working_directory": "/tmp"},
    }
    save("submit_rejected", http.post("/slurm/v0.0.38/job/submit", headers=alice, json=bad))
    forged = {"X-SLURM-USER-NAME": "alice", "X-SLURM-USER-TOKEN": token("alice", b"x" * 32)}
    save("jobs_forged", http.get("/slurm/v0.0.38/jobs", headers=forged))
    save("db_user_forged", http.get("/slurmdb/v0.0.38/user/alice", headers=forged))
    save("db_user_ok", http.get("/slurmdb/v0.0.38/user/alice", headers=alice))
    save("db_nothing_found", http.get("/slurmdb/v0.0.38/jobs", headers=alice, params={"step": "987654321"}))
    save("ping", http.get("/slurm/v0.0.38/ping", headers=alice))
    save("partitions", http.get("/slurm/v0.0.38/partitions", headers=alice))
    save("cancel_unknown", http.delete("/slurm/v0.0.38/job/987654321", headers=alice))
    bob = {"X-SLURM-USER-NAME": "bob", "X-SLURM-USER-TOKEN": token("bob", key)}
    save("cancel_denied", http.delete(f"/slurm/v0.0.38/job/{held}", headers=bob))
    for job_id in (held, folded):
        http.delete(f"/slurm/v0.0.38/job/{job_id}", headers=alice)
    print(f"captured jobs {sorted(ids)} into {OUT}")


if __name__ == "__main__":
    main()
