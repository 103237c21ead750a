"""Data staging throughput: the gateway's OpenSshStager side by side with ``scp`` and ``rsync``.

Run as root on a machine with the dev cluster up (``bash deploy/devcluster/up.sh``), which
includes the storage endpoint sshd on 127.0.0.1:2223:

    .venv/bin/python bench/staging.py [--rounds 3] [--big-mib 1024] [--small-files 10000]

Workloads, uploaded as ``myriagate`` into /srv/myriagate-storage/caen/bench-*:
- one file of random data (1 GiB by default): stager vs ``scp`` (OpenSSH 9: SFTP protocol);
- 10,000 files of 4 KiB in 100 directories: stager vs ``rsync -a -e ssh``;
- a second, unchanged sync of each data set by the same stager (must skip everything).

Fairness: scp and rsync use the same certificate, pinned host key,
``KexAlgorithms=curve25519-sha256`` and cipher list as the stager (AES-GCM first on a CPU with
AES instructions); scp also runs with OpenSSH's default cipher (chacha20-poly1305), reported
as ``ratio_stager_vs_scp_default_cipher``. Each pays its own handshake, as the
stager does (a new stager, hence a new ControlMaster, per first sync). Every destination is
emptied before each first sync. Each anchor (scp, rsync) runs right next to the stager run it
is compared with, before it in odd rounds and after it in even ones, so load drifting on a
shared machine weighs on both sides of a ratio alike; the source data is in the page cache
for both. Peak resident memory (PSS, so pages shared by a process and
its just-forked child count once) is sampled every 50 ms over this process and its children
(ssh) while the stager runs. The last line is one JSON object; targets:
``ratio_stager_vs_scp >= 0.8``, ``ratio_small_files_vs_rsync >= 0.5``,
``ratio_resync_vs_first <= 0.1``, ``peak_rss_mb < 150``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from myriagate.ports import RemoteTree
from myriagate.runners.certificates import CertificateAuthority
from myriagate.staging.openssh import OpenSshStager
from myriagate.staging.ssh_command import default_ciphers

STATE = Path("/var/lib/myriagate-devcluster")
HOST, PORT, LOGIN = "127.0.0.1", 2223, "myriagate"
STORE = Path("/srv/myriagate-storage/caen")
MB = 1e6


def _memory_of(pid: int) -> int:
    """Proportional resident memory (PSS, bytes) of one process: shared pages are divided
    among the processes sharing them, so a sum over processes counts each page once (RSS would
    count a just-forked child, which shares all of its parent's pages, twice)."""
    with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
        for line in f:
            if line.startswith(b"Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def _descendants_rss(root: int, parts: dict[str, int] | None = None) -> int:
    """Resident memory (PSS, bytes) of ``root`` and all its descendants, from /proc.

    Walks ``/proc/<pid>/task/<tid>/children`` rather than every process on the machine, so
    sampling costs little CPU next to the transfers it measures."""
    total, frontier = 0, [root]
    root_exe = os.readlink(f"/proc/{root}/exe")
    while frontier:
        pid = frontier.pop()
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            if pid != root and exe == root_exe:
                continue  # forked, not yet exec'd: it shares this process's pages
            rss = _memory_of(pid)
            if os.readlink(f"/proc/{pid}/exe") != exe:
                continue  # exec'd while being read: the figure is the parent's, not its own
            total += rss
            if parts is not None:
                with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
                    name = f.read().strip()
                parts[name] = parts.get(name, 0) + rss
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    frontier.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue  # the process ended meanwhile
    return total


class RssSampler:
    """Peak resident memory of this process plus its children (ssh), sampled on a thread
    while a stager call runs (``window()``); scp and rsync runs are not counted, their memory
    is theirs, not the gateway's."""

    def __init__(self) -> None:
        self.peak = 0
        self.parts: dict[str, int] = {}  # at the peak: RSS by process name
        self._stop = threading.Event()
        self._active = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            if self._active.wait(timeout=0.1):
                parts: dict[str, int] = {}
                total = _descendants_rss(me, parts)
                if total > self.peak:
                    self.peak, self.parts = total, parts
                time.sleep(0.05)

    @contextlib.contextmanager
    def window(self) -> Iterator[None]:
        self._active.set()
        try:
            yield
        finally:
            self._active.clear()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cpu_pressure() -> float | None:
    """Share of the last 5 minutes some task waited for a CPU (Linux PSI): other work on the
    machine during the run, which these throughput figures are sensitive to."""
    try:
        with open("/proc/pressure/cpu", encoding="utf-8") as f:
            first = f.readline().split()
        return float(dict(kv.split("=") for kv in first[1:])["avg300"])
    except (OSError, KeyError, ValueError):
        return None


def make_data(work: Path, big_mib: int, small_files: int) -> tuple[Path, Path, list[str], list[str]]:
    big_dir, small_dir = work / "big", work / "small"
    big_dir.mkdir()
    with open(big_dir / "data.bin", "wb") as f:
        for _ in range(big_mib):
            f.write(os.urandom(1 << 20))
    small = []
    for i in range(small_files):
        rel = f"d{i % 100:03d}/f{i:05d}.dat"
        (small_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (small_dir / rel).write_bytes(os.urandom(4096))
        small.append(rel)
    return big_dir, small_dir, ["data.bin"], small


def fresh_dest(name: str) -> Path:
    """An empty destination, and a quiet disk: deleting 10,000 files (online discard) slows
    the next writes for seconds on this VM, which would penalise whoever runs next."""
    dest = STORE / name
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    shutil.chown(dest, LOGIN, LOGIN)
    os.sync()
    time.sleep(1.0)
    return dest


def tree(dest: Path) -> RemoteTree:
    return RemoteTree(HOST, PORT, LOGIN, STATE / "known_hosts", str(dest))


def ssh_opts(key_dir: Path, ciphers: str | None) -> list[str]:
    return [*(["-o", f"Ciphers={ciphers}"] if ciphers else []),
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-F", "/dev/null",
        "-o", f"UserKnownHostsFile={STATE / 'known_hosts'}", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=yes", "-o", "KexAlgorithms=curve25519-sha256",
        "-i", str(key_dir / "id"), "-o", f"CertificateFile={key_dir / 'id-cert.pub'}",
    ]  # fmt: skip


def write_key(ca: CertificateAuthority, key_dir: Path) -> None:
    key = ca.key_for(LOGIN)
    (key_dir / "id").write_text(key.openssh_private_key)
    (key_dir / "id").chmod(0o600)
    (key_dir / "id-cert.pub").write_text(key.certificate + "\n")


def timed(action: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    action()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--small-files", type=int, default=10_000)
    args = parser.parse_args()

    ca = CertificateAuthority(STATE / "ssh_user_ca", validity_s=3600)
    work = Path(tempfile.mkdtemp(prefix="mg-bench-staging-"))
    key_dir = work / "key"
    key_dir.mkdir(mode=0o700)
    write_key(ca, key_dir)
    big_dir, small_dir, big_files, small_files = make_data(work, args.big_mib, args.small_files)
    big_bytes = args.big_mib << 20
    # The stager prefers AES-GCM on CPUs with AES instructions; scp and rsync get the same
    # cipher list (fair), and scp also runs with OpenSSH's default cipher, reported apart.
    ciphers = default_ciphers()
    opts = ssh_opts(key_dir, ciphers)
    default_opts = ssh_opts(key_dir, None)
    ssh_e = " ".join(["ssh", "-p", str(PORT), *opts])  # no spaces in these paths (mkdtemp)
    names = (
        "scp",
        "stager_big",
        "stager_big_resync",
        "rsync_small",
        "stager_small",
        "stager_small_resync",
        "scp_default_cipher",
    )
    runs: dict[str, list[float]] = {k: [] for k in names}

    with RssSampler() as rss:

        def anchor(key: str, dest_name: str, argv: Callable[[Path], list[str]]) -> Callable[[], None]:
            def run() -> None:
                command = argv(fresh_dest(dest_name))
                runs[key].append(timed(functools.partial(subprocess.run, command, check=True)))

            return run

        def ours(name: str, local: Path, files: list[str]) -> Callable[[], None]:
            def run() -> None:
                dest = fresh_dest(f"bench-stager-{name}")
                with OpenSshStager(ca) as stager:
                    upload = functools.partial(stager.upload, local, files, tree(dest))
                    with rss.window():
                        runs[f"stager_{name}"].append(timed(upload))
                        runs[f"stager_{name}_resync"].append(timed(upload))
                    stats = stager.last_stats
                    if stats.files_sent or stats.bytes_sent:
                        raise SystemExit(f"unchanged resync sent data: {stats}")

            return run

        def scp(options: list[str]) -> Callable[[Path], list[str]]:
            return lambda dest: ["scp", "-q", "-P", str(PORT), *options, str(big_dir / "data.bin"),
                                 f"{LOGIN}@{HOST}:{dest}/data.bin"]  # fmt: skip

        def rsync(dest: Path) -> list[str]:
            return ["rsync", "-a", "-e", ssh_e, f"{small_dir}/", f"{LOGIN}@{HOST}:{dest}/"]

        pairs = (
            (anchor("scp", "bench-scp", scp(opts)), ours("big", big_dir, big_files)),
            (anchor("rsync_small", "bench-rsync", rsync), ours("small", small_dir, small_files)),
        )
        for r in range(args.rounds):
            # Each anchor runs right next to the stager run it is compared with, first in even
            # rounds and second in odd ones: load from elsewhere on a shared machine drifts within
            # a round, and so weighs on both sides of a ratio alike.
            for pair in pairs:
                for run in pair if r % 2 == 0 else reversed(pair):
                    run()
            anchor("scp_default_cipher", "bench-scp", scp(default_opts))()
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in runs.items()), flush=True)

    med = {k: statistics.median(v) for k, v in runs.items()}
    figures = {
        "ciphers": ciphers or "ssh default",
        "scp_mb_s": round(big_bytes / med["scp"] / MB, 1),
        "scp_default_cipher_mb_s": round(big_bytes / med["scp_default_cipher"] / MB, 1),
        "stager_big_mb_s": round(big_bytes / med["stager_big"] / MB, 1),
        "rsync_small_files_s": round(args.small_files / med["rsync_small"], 1),
        "stager_small_files_s": round(args.small_files / med["stager_small"], 1),
        "stager_big_s": round(med["stager_big"], 3),
        "stager_big_resync_s": round(med["stager_big_resync"], 3),
        "stager_small_s": round(med["stager_small"], 3),
        "stager_small_resync_s": round(med["stager_small_resync"], 3),
        "ratio_stager_vs_scp": round(med["scp"] / med["stager_big"], 3),  # same cipher list
        "ratio_stager_vs_scp_default_cipher": round(med["scp_default_cipher"] / med["stager_big"], 3),
        "ratio_small_files_vs_rsync": round(med["rsync_small"] / med["stager_small"], 3),
        # the worse of the two data sets
        "ratio_resync_vs_first": round(
            max(
                med["stager_big_resync"] / med["stager_big"], med["stager_small_resync"] / med["stager_small"]
            ),
            3,
        ),
        "peak_rss_mb": round(rss.peak / MB, 1),
        "cpu_pressure_avg300_pct": cpu_pressure(),
        "rounds": args.rounds,
        "big_mib": args.big_mib,
        "small_files": args.small_files,
    }
    print(f"1 file of {args.big_mib} MiB (ciphers: {figures['ciphers']}): scp {figures['scp_mb_s']} MB/s, "
          f"stager {figures['stager_big_mb_s']} MB/s (x{figures['ratio_stager_vs_scp']} of scp; "
          "target >= 0.8); "
          f"scp with ssh's default cipher {figures['scp_default_cipher_mb_s']} MB/s "
          f"(x{figures['ratio_stager_vs_scp_default_cipher']})")  # fmt: skip
    print(f"{args.small_files} x 4 KiB: rsync {med['rsync_small']:.2f} s, stager {med['stager_small']:.2f} s "
          f"(x{figures['ratio_small_files_vs_rsync']} of rsync; target >= 0.5)")  # fmt: skip
    print(f"unchanged resync: big {med['stager_big_resync']:.3f} s, small {med['stager_small_resync']:.3f} s "
          f"(worst x{figures['ratio_resync_vs_first']} of the first sync; target <= 0.1)")  # fmt: skip
    parts = ", ".join(f"{k} {v / MB:.1f} MB" for k, v in sorted(rss.parts.items()))
    print(f"peak RSS while the stager runs (this process + its ssh children): {figures['peak_rss_mb']} MB "
          f"(target < 150): {parts}")  # fmt: skip
    for name in ("bench-scp", "bench-rsync", "bench-stager-big", "bench-stager-small"):
        shutil.rmtree(STORE / name, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
