"""A researcher's login is hostile: its shell, its start-up files and its PATH.

On the REAL dev cluster, as ``mallory`` (a login deploy/devcluster/up.sh makes for these tests
only, in caen-climat and caen-bio, allowed the QOS ``high``), whose ``~/.bashrc`` (read by bash
for every ``ssh host cmd``: Debian builds bash with SSH_SOURCE_BASHRC), ``~/.profile`` and login
shell the tests rewrite, backing them up and restoring them. What must hold:

- item 3 (catalog S08, S09): ``SBATCH_*`` and a canary secret exported by the login (or held in
  the gateway's own environment) change nothing of a submission: sacct shows the gateway's
  account, the default QOS and a job that is not exclusive, and the job's environment holds
  neither the canary nor a variable injected through ``SBATCH_EXPORT``;
- item 4 (catalog F12, S03): a start-up file that prints a gigabyte or sleeps, a ``python3``
  first on the login's PATH that sleeps forever, a login shell of tcsh or zsh: staging either
  works or fails with a clear StagingError within a deadline, memory stays bounded, and the
  staging step of the worker goes on with other jobs.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import resource
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from myriagate.clock import SystemClock
from myriagate.db.models import Job, User
from myriagate.domain.jobs import JobSpec
from myriagate.domain.states import JobState
from myriagate.errors import BackendError, StagingError, SubmissionUncertain
from myriagate.ports import RemoteTree
from myriagate.profiles.loader import load_all_profiles
from myriagate.runners import CertificateAuthority, LocalRunner, SshConnectionPool, SshRunner
from myriagate.scripts.render import prepare_script
from myriagate.services.staging import step as staging
from myriagate.services.staging import uploads
from myriagate.services.staging.plan import StagingRequest
from myriagate.services.submission.submit import SubmitRequest, submit_job
from myriagate.settings import Settings
from myriagate.slurm.cli_backend import SlurmCliBackend
from myriagate.staging.openssh import OpenSshStager
from myriagate.staging.session_watch import SessionLimits
from myriagate.wiring import Gateway
from tests.conftest import CLUSTER, FakeClock, make_user
from tests.integration.conftest import REPO, DevCluster

# Each test rewrites mallory's start-up files and shell: in parallel runs they all go to one
# xdist worker, one after the other (tests/conftest.py ONE_WORKER; nothing else uses mallory).
pytestmark = pytest.mark.slurm

LOGIN = "mallory"
# Every start-up file a login shell of bash, zsh or tcsh may read.
DOTFILES = (".bashrc", ".profile", ".bash_profile", ".bash_login", ".cshrc", ".tcshrc", ".login",
            ".zshenv", ".zshrc", ".zprofile", "bin/python3")  # fmt: skip
# A sleep the teardown can tell from anything else of the login's (it kills these by pid).
HANG = "sleep 4321"
GIB = 1 << 30
CANARY = "mg-canary-7f3c9e"
HOSTILE_ENV = {
    "SBATCH_ACCOUNT": "caen-bio",
    "SBATCH_QOS": "high",
    "SBATCH_EXCLUSIVE": "",  # empty: a whole-node job (32 CPUs here); "user" would not show
    "SBATCH_EXPORT": "ALL,MG_INJECTED=from-sbatch-export",
    "MG_CANARY_SECRET": CANARY,
}
CLOCK = SystemClock()
SHORT = SessionLimits(start_timeout_s=3, stall_timeout_s=3, max_session_s=60, max_reply_bytes=8 << 20)


@dataclass
class Login:
    """The test login: its home, and ways to make it hostile."""

    name: str
    home: Path

    def write(self, name: str, text: str, mode: int = 0o644) -> None:
        path = self.home / name
        path.parent.mkdir(exist_ok=True)
        shutil.chown(path.parent, self.name, self.name)
        path.write_text(text)
        path.chmod(mode)
        shutil.chown(path, self.name, self.name)

    def bashrc(self, text: str) -> None:
        """What bash runs before every command the gateway sends (kept ahead of Debian's
        'not interactive: return' guard, as a hostile or careless login would)."""
        self.write(".bashrc", text + "\n")

    def shell(self, path: str) -> None:
        subprocess.run(["chsh", "-s", path, self.name], check=True)


def _kill_hangs(uid: int) -> None:
    """End the processes our hostile start-up files started (found by their command line)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if HANG in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)


@pytest.fixture
def mallory(devcluster: DevCluster) -> Iterator[Login]:
    if os.geteuid() != 0:
        pytest.skip("rewriting a login's start-up files and shell needs root")
    try:
        pw = pwd.getpwnam(LOGIN)
    except KeyError:
        pytest.skip(f"no login {LOGIN!r}: run `bash deploy/devcluster/up.sh` as root")
    home = Path(pw.pw_dir)
    saved = {name: (home / name).read_bytes() if (home / name).exists() else None for name in DOTFILES}
    had_bin = (home / "bin").exists()
    login = Login(LOGIN, home)
    try:
        yield login
    finally:
        for name, content in saved.items():
            path = home / name
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
                shutil.chown(path, LOGIN, LOGIN)
        if not had_bin:
            shutil.rmtree(home / "bin", ignore_errors=True)
        if pwd.getpwnam(LOGIN).pw_shell != pw.pw_shell:
            login.shell(pw.pw_shell)
        _kill_hangs(pw.pw_uid)
        shutil.rmtree(home / "mg-hostile", ignore_errors=True)


def _exports(env: dict[str, str]) -> str:
    return "\n".join(f"export {name}='{value}'" for name, value in env.items())


# ---- item 3: the environment of a submission ------------------------------------------------
JOB = "#!/bin/bash\nprintenv\n"


def _script(out: str) -> Any:
    spec = JobSpec(
        account="caen-climat", partition="debug", time_limit_s=120, output=out, job_name="hostile-env"
    )
    return prepare_script(JOB, spec)


def _sacct(job_id: str) -> dict[str, str]:
    fields = ("State", "Account", "QOS", "AllocCPUS")
    deadline = time.monotonic() + 120
    while True:
        out = subprocess.run(
            ["sacct", "-n", "-P", "-X", "-j", job_id, "-o", ",".join(fields)],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        row = dict(zip(fields, out.split("|"), strict=True)) if out else {}
        # Just after the end, slurmdbd may not have the whole record yet (QOS "Unknown").
        ended = row.get("State") in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY")
        if ended and row.get("QOS") not in ("", "Unknown"):
            return row
        assert time.monotonic() < deadline, f"job {job_id} did not end: {row}"
        time.sleep(1)


def _job_environment(out: Path) -> dict[str, str]:
    deadline = time.monotonic() + 30
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    text = out.read_text()
    out.unlink()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _assert_the_gateway_decided(job_id: str, out: Path) -> None:
    row = _sacct(job_id)
    assert row == {"State": "COMPLETED", "Account": "caen-climat", "QOS": "normal", "AllocCPUS": "1"}, row
    env = _job_environment(out)
    assert CANARY not in json.dumps(env), "the login's (or gateway's) secret reached the job"
    assert "MG_INJECTED" not in env and "MG_CANARY_SECRET" not in env
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["HOME"] == f"/home/{LOGIN}" and env["USER"] == LOGIN
    assert not {name for name in env if name.startswith("SBATCH_")}


def _out_path() -> Path:
    return Path(f"/tmp/mg-hostile-env-{uuid.uuid4().hex}.out")


def test_start_up_exports_change_nothing_of_a_submission_over_ssh(
    mallory: Login, ssh_pool: SshConnectionPool
) -> None:
    """Catalog S08/S09: the login's ~/.bashrc (and ~/.profile) export
    SBATCH_ACCOUNT, SBATCH_QOS, SBATCH_EXCLUSIVE, SBATCH_EXPORT and a canary; the job submitted
    over SSH keeps the gateway's account, the default QOS, one CPU, and no canary."""
    mallory.bashrc(_exports(HOSTILE_ENV))
    mallory.write(".profile", _exports(HOSTILE_ENV) + "\n")
    runner = SshRunner(ssh_pool, LOGIN)
    shown = runner.run(["printenv"]).text
    assert CANARY not in shown and "SBATCH_" not in shown  # not even sbatch's own environment
    out = _out_path()
    job_id = SlurmCliBackend(runner).submit(_script(str(out)), tag=f"mg:{uuid.uuid4()}")
    _assert_the_gateway_decided(job_id, out)


def test_numbers_printed_by_a_start_up_file_are_never_taken_for_the_job_id(
    mallory: Login, ssh_pool: SshConnectionPool
) -> None:
    """A chatty ~/.bashrc (a greeting, another job's id) prints before sbatch's reply over SSH:
    the gateway records the id of the job it really submitted, found again by its tag."""
    mallory.bashrc("echo 'Welcome to Myria'\necho 4242\necho '1;myria'\n")
    runner = SshRunner(ssh_pool, LOGIN)
    backend = SlurmCliBackend(runner)
    tag = f"mg:{uuid.uuid4()}"
    job_id = backend.submit(_script(str(_out_path())), tag=tag)
    assert job_id not in ("4242", "1")
    assert backend.find_by_tag(tag) == job_id
    subprocess.run(["scancel", job_id], check=False)


def test_the_gateways_own_environment_changes_nothing_as_root_switching_to_the_login(
    mallory: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway runs on the cluster as root (LocalRunner switching to the
    login) with SBATCH_* and a secret in its own environment."""
    for name, value in HOSTILE_ENV.items():
        monkeypatch.setenv(name, value)
    out = _out_path()
    job_id = SlurmCliBackend(LocalRunner(as_login=LOGIN)).submit(_script(str(out)), tag=f"mg:{uuid.uuid4()}")
    _assert_the_gateway_decided(job_id, out)


NON_ROOT_SUBMIT = """
import json, sys
from myriagate.domain.jobs import RenderedScript
from myriagate.runners import LocalRunner
from myriagate.slurm.cli_backend import SlurmCliBackend
text, args, tag = json.loads(sys.argv[1])
print(SlurmCliBackend(LocalRunner()).submit(RenderedScript(text=text, sbatch_args=tuple(args)), tag=tag))
"""


def test_the_gateways_own_environment_changes_nothing_as_a_non_root_gateway(mallory: Login) -> None:
    """A gateway running as the login itself (no root, LocalRunner of its
    own user), started with SBATCH_* and a secret in its environment. Run with Debian's
    python3 (the login cannot read the venv's interpreter under /root) on the venv's packages."""
    system_python = Path("/usr/bin/python3")
    version = subprocess.run([system_python, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    if version != str(tuple(sys.version_info[:2])):
        pytest.skip(
            f"/usr/bin/python3 is {version}, the venv {sys.version_info[:2]}: packages would not load"
        )
    packages = f"{REPO}:{sysconfig.get_paths()['purelib']}"
    out = _out_path()
    script = _script(str(out))
    argv = json.dumps([script.text, list(script.sbatch_args), f"mg:{uuid.uuid4()}"])
    done = subprocess.run(
        ["setpriv", f"--reuid={LOGIN}", f"--regid={LOGIN}", "--init-groups",
         "env", f"PYTHONPATH={packages}", *(f"{k}={v}" for k, v in HOSTILE_ENV.items()),
         str(system_python), "-c", NON_ROOT_SUBMIT, argv],
        capture_output=True, text=True, cwd="/tmp", timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    _assert_the_gateway_decided(done.stdout.strip(), out)


# ---- item 4: hostile start-up files, PATH and shells -----------------------------------------
def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tree(devcluster: DevCluster) -> RemoteTree:
    return RemoteTree(
        "127.0.0.1", devcluster.ssh_port, LOGIN, devcluster.known_hosts, f"/home/{LOGIN}", "mg-hostile"
    )


def _bounded(action: Callable[[], object], within_s: float) -> tuple[object, float]:
    """Run ``action`` on a thread; fail (instead of hanging the suite) past ``within_s``."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within_s)
    assert not thread.is_alive(), f"still running after {within_s} s: the login held the worker"
    return outcome[0], time.monotonic() - started


def _round_trip(stager: OpenSshStager, tree: RemoteTree, tmp_path: Path) -> list[object]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "in.txt").write_text("hello from the gateway\n")
    up = stager.upload(src, ["in.txt"], tree)
    found = stager.scan(tree, ["*.txt"])
    down = stager.download(tree, ["in.txt"], tmp_path / "back")
    assert (tmp_path / "back" / "in.txt").read_text() == "hello from the gateway\n"
    return [up, found, down]


HOSTILE_STARTS = {
    "prints_a_gigabyte": (f"head -c {GIB} /dev/zero", "wrote more than"),
    "prints_a_gigabyte_on_stderr": (
        f"head -c {GIB} /dev/zero >&2",
        "wrote more than 1048576 bytes on stderr",
    ),
    "sleeps": (HANG, "did not start within 3 s"),
    "forges_the_start_then_sleeps": (f"echo MYRIAGATE-HELPER-READY >&2; {HANG}", "nothing moved for 3 s"),
}
# For the start-up files that print, the output bound is what must stop them: the start deadline
# is only a backstop there, 10 s, so that a loaded machine's slow login does not fire it first
# (it did once with 3 s, the slurm tier running beside a CPU-bound benchmark).
OUTPUT_BOUNDED = replace(SHORT, start_timeout_s=10)


@pytest.mark.parametrize("behaviour", list(HOSTILE_STARTS))
def test_a_hostile_start_up_file_is_a_clear_staging_error_within_a_deadline(
    behaviour: str, mallory: Login, devcluster: DevCluster, ca: CertificateAuthority, tmp_path: Path
) -> None:
    """Catalog F12: every read of the stager is bounded in size and time."""
    command, message = HOSTILE_STARTS[behaviour]
    mallory.bashrc(command)
    rss0 = _maxrss_mib()
    limits = OUTPUT_BOUNDED if behaviour.startswith("prints_") else SHORT
    with OpenSshStager(ca, limits=limits) as stager:
        outcome, took = _bounded(lambda: _round_trip(stager, _tree(devcluster), tmp_path), within_s=60)
    assert isinstance(outcome, StagingError), outcome
    assert message in outcome.detail
    assert took < 15, f"{behaviour}: {took:.1f} s"
    assert _maxrss_mib() - rss0 < 100, "the login's output was held in memory"


@pytest.mark.parametrize("behaviour", ["prints_a_gigabyte", "sleeps"])
def test_a_hostile_start_up_file_is_bounded_for_slurm_commands_too(
    behaviour: str, mallory: Login, devcluster: DevCluster, ca: CertificateAuthority
) -> None:
    """The runners read as boundedly (16 MiB, the command timeout)."""
    mallory.bashrc(HOSTILE_STARTS[behaviour][0])
    pool = SshConnectionPool(devcluster.ssh_host, devcluster.ssh_port, devcluster.known_hosts, ca)
    try:
        outcome, took = _bounded(
            lambda: SshRunner(pool, LOGIN).run(["squeue", "--me"], timeout=3), within_s=30
        )
    finally:
        pool.close()
    assert isinstance(outcome, SubmissionUncertain if behaviour == "sleeps" else BackendError), outcome
    assert took < 10


def test_a_python3_first_on_the_logins_path_that_never_answers_is_not_used(
    mallory: Login, devcluster: DevCluster, ca: CertificateAuthority, tmp_path: Path
) -> None:
    """The far side runs /usr/bin/python3 under ``env -i``, whatever the
    login's PATH says."""
    mallory.write("bin/python3", f"#!/bin/sh\nexec {HANG}\n", mode=0o755)
    mallory.bashrc('export PATH="$HOME/bin:$PATH"')
    with OpenSshStager(ca, limits=SHORT) as stager:
        outcome, took = _bounded(lambda: _round_trip(stager, _tree(devcluster), tmp_path), within_s=60)
    assert not isinstance(outcome, BaseException), outcome
    assert took < 15


@pytest.mark.parametrize("shell", ["/usr/bin/tcsh", "/usr/bin/zsh"])
def test_staging_works_for_a_login_whose_shell_is_not_bash(
    shell: str, mallory: Login, devcluster: DevCluster, ca: CertificateAuthority, tmp_path: Path
) -> None:
    """Catalog S03: the command line is one line of words every shell reads
    alike (the helper comes on stdin), so tcsh and zsh logins stage like bash ones."""
    if not Path(shell).exists():
        pytest.skip(f"{shell} is not installed: run `bash deploy/devcluster/up.sh` as root")
    mallory.shell(shell)
    with OpenSshStager(ca, limits=SHORT) as stager:
        outcome, took = _bounded(lambda: _round_trip(stager, _tree(devcluster), tmp_path), within_s=60)
    assert not isinstance(outcome, BaseException), outcome
    assert took < 15


# ---- item 4: the worker's staging step goes on ------------------------------------------------
@pytest.fixture
def gateway(devcluster: DevCluster, db: sessionmaker[Session], tmp_path: Path) -> Iterator[Gateway]:
    settings = Settings(
        dev_mode=True,
        ssh_ca_key_path=devcluster.ca_key,
        enforce_allocations=False,
        spool_dir=tmp_path / "spool",
        staging_start_timeout_s=3,
        staging_stall_timeout_s=3,
    )
    profiles = load_all_profiles(settings)
    dev = profiles[CLUSTER]  # Slurm commands time out as soon as the transfers do
    profiles[CLUSTER] = dev.model_copy(
        update={"connection": dev.connection.model_copy(update={"command_timeout_s": 3.0})}
    )
    gateway = Gateway(settings=settings, profiles=profiles, session_factory=db)
    yield gateway
    gateway.close()


def _submit_with_inputs(session: Session, gateway: Gateway, user: User) -> uuid.UUID:
    upload = uploads.create_upload(session, user=user, at=CLOCK.now())
    writer, clean = uploads.open_file(
        session,
        upload_id=upload.id,
        path="in.txt",
        user=user,
        spool_dir=gateway.settings.spool_dir,
        max_bytes=1 << 20,
    )
    writer.write(b"input\n")
    uploads.record_file(session, upload_id=upload.id, path=clean, size_bytes=6, sha256=writer.finish(None))
    job = submit_job(
        session,
        backends=gateway.backends(CLUSTER),
        profile=gateway.profile(CLUSTER),
        user=user,
        request=SubmitRequest(
            script_text="#!/bin/bash\n#SBATCH --partition=debug\n#SBATCH --time=00:01:00\ncat in.txt\n",
            cluster=CLUSTER,
        ),
        clock=CLOCK,
        staging=StagingRequest(upload_id=upload.id),
        residency=gateway.residency("test"),
    )
    assert job.state is JobState.STAGING_IN
    return job.id


# What bash runs before the command: every command of the login hangs, or only the stager's
# (a start-up file can read the command it precedes in BASH_EXECUTION_STRING).
HANGS = {
    "every_command": (HANG, "no exit after 3 s"),
    "only_transfers": (
        f'case "$BASH_EXECUTION_STRING" in *MYRIAGATE-HELPER*) {HANG};; esac',
        "did not start within 3 s",
    ),
}


@pytest.mark.parametrize("which", list(HANGS))
def test_a_hostile_login_does_not_hold_the_workers_staging_step(
    which: str, mallory: Login, gateway: Gateway, db: sessionmaker[Session], users: dict[str, User]
) -> None:
    """One pass of the worker's staging step, with a job of a login whose
    ~/.bashrc never returns next to a job of alice's: it ends within the deadline, mallory's
    job is held back with the reason, alice's inputs are staged and her job is submitted."""
    with db() as session:
        hostile = make_user(session, "mallory@unicaen.fr", LOGIN, ["caen-climat"], FakeClock())
        bad = _submit_with_inputs(session, gateway, hostile)
        good = _submit_with_inputs(session, gateway, session.merge(users["alice"]))
    command, reason = HANGS[which]
    mallory.bashrc(command)  # after submission: from now on mallory's commands hang
    ctx = gateway.staging_context(CLUSTER, CLOCK, "hostile-test")
    moved, took = _bounded(lambda: staging.run_pending(ctx), within_s=60)
    assert not isinstance(moved, BaseException), moved
    assert took < 20, f"the staging step was held {took:.1f} s"
    with db() as session:
        bad_job, good_job = session.get(Job, bad), session.get(Job, good)
        assert bad_job is not None and good_job is not None
        assert bad_job.slurm_job_id is None and reason in (bad_job.reason or ""), bad_job.reason
        # A transfer that cannot start is final; a Slurm command that timed out is retried.
        expected = JobState.FAILED if which == "only_transfers" else JobState.STAGING_IN
        assert bad_job.state is expected, (bad_job.state, bad_job.reason)
        assert good_job.slurm_job_id is not None, good_job.reason
