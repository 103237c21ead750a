"""Environments the SlurmBackend contract runs in: one backend plus a way to move its jobs.

- ``fake``: FakeSlurmBackend; the test drives jobs to the outcome it expects.
- ``pyslurm-fake``: PyslurmBackend over ``tests/fakes/fake_pyslurm`` (pyslurm 25.11's names),
  same in-memory cluster, driven the same way.
- ``cli+local`` / ``cli+ssh``: SlurmCliBackend on the real dev cluster as ``alice``, through
  LocalRunner (as root) or SshRunner (certificate signed by the dev CA); jobs really run and
  the environment polls until they end. Marked ``slurm``.
- ``pyslurm``: PyslurmBackend over the real pyslurm (22.5, built by ``deploy/pyslurm.sh``) on
  the same cluster, submitting as ``alice`` from root. Skipped, with the reason, when pyslurm
  is not installed. Marked ``slurm``.
- ``rest``: SlurmRestBackend over the dev cluster's slurmrestd (127.0.0.1:6820) with JWTs
  minted for ``alice`` from the cluster's key; output files and the home read as alice through
  LocalRunner (the profile's ``files = "runner"``). Marked ``slurm``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from myriagate.domain.jobs import JobStatus, RenderedScript
from myriagate.ports import SlurmBackend
from myriagate.slurm import commands, parse
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.slurm.pyslurm_backend import PyslurmBackend
from myriagate.slurm.rest_backend import SlurmRestBackend
from myriagate.slurm.rest_http import SlurmRestClient
from myriagate.slurm.rest_tokens import JwtMinter
from tests.fakes import fake_pyslurm
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackend

LOGIN = "alice"
STATE_DIR = Path("/var/lib/myriagate-devcluster")
REAL_PARTITION = "debug"  # MaxTime 30 min: the contract's jobs are seconds long


@dataclass(frozen=True)
class Outcome:
    """How a job ends: what a fake is driven to; the real cluster decides for itself."""

    slurm_state: str = "COMPLETED"
    exit_code: int = 0
    signal: int = 0


@dataclass
class SlurmEnv:
    name: str
    backend: SlurmBackend
    real: bool
    cluster: FakeCluster | None = None
    files_dir: Path | None = None
    submitted: list[str] = field(default_factory=list)
    _cleanup: list[Callable[[], None]] = field(default_factory=list)

    def script(self, body: str, *options: str) -> RenderedScript:
        """A job script running ``body``; real jobs run short in the debug partition."""
        base = (f"--partition={REAL_PARTITION}", "--chdir=/tmp", "--output=/dev/null") if self.real else ()
        return RenderedScript(f"#!/bin/sh\n{body}\n", (*base, *options))

    def submit(self, body: str, *options: str, tag: str | None = None) -> tuple[str, str]:
        tag = tag or f"mg:{uuid.uuid4()}"
        job_id = self.backend.submit(self.script(body, *options), tag=tag)
        self.submitted.append(job_id)
        return job_id, tag

    def wait(self, job_id: str, until: Callable[[JobStatus], bool], timeout_s: float = 60.0) -> JobStatus:
        deadline = time.monotonic() + timeout_s
        last: JobStatus | None = None
        while time.monotonic() < deadline:
            last = self.backend.status([job_id]).get(job_id, last)
            if last is not None and until(last):
                return last
            time.sleep(0.5)
        raise AssertionError(f"{self.name}: job {job_id} did not get there in {timeout_s:g} s; last {last}")

    def start(self, job_id: str) -> JobStatus:
        if self.cluster is not None:
            self.cluster.set_state(job_id, "RUNNING")
        return self.wait(job_id, lambda s: s.state is not None and s.state.rank >= 3)

    def run_to_end(self, job_id: str, outcome: Outcome, timeout_s: float = 60.0) -> JobStatus:
        if self.cluster is not None:
            self.cluster.finish(
                job_id, outcome.slurm_state, exit_code=outcome.exit_code, signal=outcome.signal
            )
        return self.wait(job_id, lambda s: s.state is not None and s.state.is_final, timeout_s)

    def leave_queue(self, job_id: str) -> None:
        """Until squeue forgets the job (MinJobAge) and only accounting knows it."""
        if self.cluster is not None:
            self.cluster.purge_from_queue(job_id)
            return
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            out = _as_login(commands.squeue_status([job_id]))
            if not parse.parse_squeue_status(out.stdout):
                return
            time.sleep(2)
        raise AssertionError(f"job {job_id} stayed in squeue")

    def job_name(self, job_id: str) -> str | None:
        """The name Slurm stored (``squeue -o %j``)."""
        if self.cluster is not None:
            return self.cluster._targets(job_id)[0].name
        out = _as_login(("squeue", "--noheader", f"--jobs={job_id}", f"--format=%i{commands.SEP}%j"))
        for line in parse.lines(out.stdout):
            f = parse.fields(line, 2)
            if f and f[0] == job_id:
                return f[1]
        return None

    def write_file(self, data: bytes) -> str:
        """A file of the login's that tail() can read."""
        name = f"mg-contract-{uuid.uuid4().hex}.out"
        if self.cluster is not None and self.name == "fake":
            path = f"/home/{LOGIN}/{name}"
            self.cluster.write_file(path, data)
            return path
        assert self.files_dir is not None
        file = self.files_dir / name
        file.write_bytes(data)
        if self.real and os.geteuid() == 0:
            pw = pwd.getpwnam(LOGIN)
            os.chown(file, pw.pw_uid, pw.pw_gid)
        self._cleanup.append(lambda: file.unlink(missing_ok=True))
        return str(file)

    def close(self) -> None:
        for undo in self._cleanup:
            undo()
        if self.real:
            for job_id in self.submitted:
                with contextlib.suppress(Exception):  # best effort: a test's leftovers
                    self.backend.cancel(job_id)


def _as_login(argv: tuple[str, ...]) -> subprocess.CompletedProcess[bytes]:
    full = ("runuser", "-u", LOGIN, "--", *argv) if os.geteuid() == 0 else argv
    return subprocess.run(full, capture_output=True, timeout=60, check=False)


def _cluster_problem() -> str | None:
    if shutil.which("scontrol") is None:
        return "Slurm is not installed here"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "scontrol ping did not answer"
    if "is UP" not in ping.stdout:
        return f"scontrol ping: {(ping.stdout + ping.stderr).strip()}"
    if os.geteuid() != 0:
        return "the real-cluster contract runs as root (LocalRunner as alice, CA key)"
    return None


@pytest.fixture(scope="session")
def ssh_pool() -> Iterator[Any]:
    problem = _cluster_problem()
    if problem is not None:
        pytest.skip(f"dev cluster not ready — run `bash deploy/devcluster/up.sh` as root: {problem}")
    try:
        from myriagate.runners import CertificateAuthority, SshConnectionPool
    except ImportError as exc:
        pytest.skip(f"myriagate.runners has no SshConnectionPool yet: {exc}")
    for needed in (STATE_DIR / "known_hosts", STATE_DIR / "ssh_user_ca"):
        if not needed.exists():
            pytest.skip(f"{needed} is missing (bash deploy/devcluster/up.sh)")
    ca = CertificateAuthority(STATE_DIR / "ssh_user_ca", validity_s=300)
    pool = SshConnectionPool("127.0.0.1", 2222, STATE_DIR / "known_hosts", ca, connect_timeout=10.0)
    yield pool
    pool.close()


def _local_backend() -> SlurmBackend:
    problem = _cluster_problem()
    if problem is not None:
        pytest.skip(f"dev cluster not ready — run `bash deploy/devcluster/up.sh` as root: {problem}")
    try:
        from myriagate.runners import LocalRunner
    except ImportError as exc:
        pytest.skip(f"myriagate.runners has no LocalRunner yet: {exc}")
    return SlurmCliBackend(LocalRunner(as_login=LOGIN))


PYSLURM_MISSING = (
    "pyslurm is not installed in this venv: `bash deploy/pyslurm.sh` builds it for the cluster's Slurm "
    "from MYRIAGATE_PYSLURM_SOURCE (or ../shared/vendor/pyslurm-<release>.tar.gz beside the checkout)"
)


def _real_pyslurm_backend() -> SlurmBackend:
    problem = _cluster_problem()
    if problem is not None:
        pytest.skip(f"dev cluster not ready — run `bash deploy/devcluster/up.sh` as root: {problem}")
    if importlib.util.find_spec("pyslurm") is None:
        pytest.skip(PYSLURM_MISSING)
    release = subprocess.run(["sinfo", "-V"], capture_output=True, text=True, check=True).stdout.split()[1]
    return PyslurmBackend(release, login=LOGIN)


REST_URL = "http://127.0.0.1:6820"
JWT_KEY = Path("/var/spool/slurmctld/jwt_hs256.key")


def _rest_backend() -> SlurmRestBackend:
    problem = _cluster_problem()
    if problem is not None:
        pytest.skip(f"dev cluster not ready — run `bash deploy/devcluster/up.sh` as root: {problem}")
    if not JWT_KEY.exists():
        pytest.skip(f"{JWT_KEY} is missing: a dev cluster without slurmrestd (bash deploy/devcluster/up.sh)")
    from myriagate.runners import LocalRunner

    client = SlurmRestClient(REST_URL, JwtMinter.from_file(JWT_KEY).token, timeout_s=30)
    backend = SlurmRestBackend(client, LOGIN, files=SlurmCliBackend(LocalRunner(as_login=LOGIN)))
    health = backend.ping()
    if not health.reachable:
        client.close()
        pytest.skip(f"slurmrestd on {REST_URL} does not answer: {health.detail}")
    return backend


IMPLEMENTATIONS = [
    pytest.param("fake", id="fake"),
    pytest.param("pyslurm-fake", id="pyslurm-fake"),
    pytest.param("cli+local", id="cli+local", marks=pytest.mark.slurm),
    pytest.param("cli+ssh", id="cli+ssh", marks=pytest.mark.slurm),
    pytest.param("pyslurm", id="pyslurm", marks=pytest.mark.slurm),
    pytest.param("rest", id="rest", marks=pytest.mark.slurm),
]


@pytest.fixture(params=IMPLEMENTATIONS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SlurmEnv]:
    kind: str = request.param
    if kind == "fake":
        cluster = FakeCluster()
        made = SlurmEnv(kind, FakeSlurmBackend(cluster, LOGIN), real=False, cluster=cluster)
    elif kind == "pyslurm-fake":
        cluster = FakeCluster()
        fake_pyslurm.connect(cluster, LOGIN)
        backend = PyslurmBackend("25.11", module=fake_pyslurm)
        made = SlurmEnv(kind, backend, real=False, cluster=cluster, files_dir=tmp_path)
    elif kind == "cli+local":
        made = SlurmEnv(kind, _local_backend(), real=True, files_dir=Path("/tmp"))
    elif kind == "pyslurm":
        made = SlurmEnv(kind, _real_pyslurm_backend(), real=True, files_dir=Path("/tmp"))
    elif kind == "rest":
        rest = _rest_backend()
        made = SlurmEnv(kind, rest, real=True, files_dir=Path("/tmp"))
    else:
        from myriagate.runners import SshRunner

        pool = request.getfixturevalue("ssh_pool")
        made = SlurmEnv(kind, SlurmCliBackend(SshRunner(pool, LOGIN)), real=True, files_dir=Path("/tmp"))
    yield made
    made.close()  # cancels the real jobs left: through the backend, so its client closes after
    if isinstance(made.backend, SlurmRestBackend):
        made.backend.client.close()
