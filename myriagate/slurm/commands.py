"""Slurm commands as data: each function returns the argv tuple to run, nothing runs here.

Every id that reaches an argv has passed ``domain.values.slurm_job_id``; paths pass
``domain.values.file_pattern``. Fields are separated by ``\\x1f`` (ASCII unit separator), so
ordinary odd names never shift a column (ood_core does the same). But Slurm prints free text
(comments, reasons, work dirs, job names) as it was given, newlines and ``\\x1f`` included, so
no separator alone keeps it from forging a record (``slurm.records``, docs/slurm.md):
queries whose lines become states, usages or charges request no free text (no WorkDir, no
job name, no comment in the sweep), and those that need some (a reason, a comment) are framed,
their first and last fields being the same job id. Captured outputs of exactly these commands
are in ``tests/data/slurm/``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from myriagate.domain import values
from myriagate.errors import UnsafeValue

SEP = "\x1f"

# squeue -o fields for status(): one line per job or array task (-r expands pending ranges).
# %i job id as users see it (123 or 123_4), %A raw id, %F array parent id (= %A when not an
# array), %K task index (N/A when not an array), %T full state, %r reason, %V submit time,
# %S start time, %e end time, %N nodes; %i again: the reason is text, so the line is framed.
# No work dir (%Z, free text): the gateway records it at submission.
SQUEUE_STATUS_FIELDS: tuple[str, ...] = (
    "%i", "%A", "%F", "%K", "%T", "%r", "%V", "%S", "%e", "%N", "%i",
)  # fmt: skip
# find_by_tag: the job id as printed (123, 123_4, 123_[5-9]) around the comment (= our tag).
SQUEUE_TAG_FIELDS: tuple[str, ...] = ("%i", "%k", "%i")

# sacct -o fields for status(); -X keeps the allocation line (whose ExitCode is the batch
# script's), dropping the .batch/.extern steps. Framed by JobID around the Reason; no WorkDir
# (free text, and 22.05 does not keep it anyway).
SACCT_STATUS_FIELDS: tuple[str, ...] = (
    "JobID", "JobIDRaw", "State", "ExitCode", "Reason", "Submit", "Start", "End",
    "NodeList", "JobID",
)  # fmt: skip
SACCT_USAGE_FIELDS: tuple[str, ...] = (
    "JobID", "JobIDRaw", "State", "ExitCode", "ElapsedRaw", "AllocCPUS", "AllocNodes",
    "AllocTRES", "Partition", "Account", "User", "Start", "End",
)  # fmt: skip
SACCT_TAG_FIELDS: tuple[str, ...] = ("JobID", "Comment", "JobID")
# How ended jobs ended (domain.job_explanations), one line per job *and per step* (no
# --allocations): MaxRSS is only kept on steps, ReqMem and TimelimitRaw (minutes) on the job's
# own line. No free text, so no frame: every field is checked for its shape.
SACCT_END_FIELDS: tuple[str, ...] = ("JobID", "JobIDRaw", "State", "ReqMem", "MaxRSS", "TimelimitRaw")
# The outside-jobs sweep reads the usage fields only (none is free text); the comments of the
# jobs it may charge are asked separately, framed, by job id (``sacct_comments``).
SACCT_COMMENT_FIELDS: tuple[str, ...] = ("JobID", "Comment", "JobID")

# sacct --state codes of final states (22.05 names; OOM is OUT_OF_MEMORY).
FINAL_STATE_CODES: tuple[str, ...] = ("CA", "CD", "F", "TO", "NF", "PR", "BF", "DL", "OOM")
_WINDOW_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\Z")

_UID = re.compile(r"[0-9]{1,10}")  # fullmatch: "$" would let a trailing newline through
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,127}\Z")
_SINCE = re.compile(r"^now-\d{1,4}days\Z|^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?)?\Z")


def _ids(slurm_job_ids: Collection[str]) -> str:
    ids = [values.slurm_job_id(i) for i in dict.fromkeys(slurm_job_ids)]
    if not ids:
        raise ValueError("at least one Slurm job id is needed")
    return ",".join(ids)


def tag(value: str) -> str:
    """A submission tag (``mg:<uuid>``): it travels in ``--comment``, so keep it plain."""
    if not _TAG.match(value):
        raise UnsafeValue(f"tag {value!r} is not a plain token (letters, digits, ':._-')")
    return value


def sbatch_options(args: Sequence[str]) -> tuple[str, ...]:
    """Check renderer-made sbatch options: long options only, printable, one element each.

    A bare word would become sbatch's script argument; a control character would change
    what ``squeue`` prints (and a newline in a job name survives sbatch, measured).
    """
    for arg in args:
        if not arg.startswith("--") or len(arg) < 3:
            raise UnsafeValue(f"sbatch option {arg!r} must be a long option such as --partition=court")
        if re.search(r"[\x00-\x1f\x7f]", arg):
            raise UnsafeValue(f"sbatch option {arg!r} contains a control character")
        if arg.startswith("--comment"):
            raise UnsafeValue("--comment is reserved for the gateway's submission tag")
    return tuple(args)


def sbatch(args: Sequence[str], submission_tag: str) -> tuple[str, ...]:
    """``sbatch --parsable`` reading the script on stdin; the tag goes last on the command
    line, which overrides any ``#SBATCH --comment`` in the script."""
    return ("sbatch", "--parsable", *sbatch_options(args), f"--comment={tag(submission_tag)}")


def squeue_status(slurm_job_ids: Collection[str]) -> tuple[str, ...]:
    """One squeue call for these jobs, in every state squeue still holds (finished ones stay
    for MinJobAge), one line per array task."""
    return (
        "squeue", "--noheader", "--states=all", "--array", f"--jobs={_ids(slurm_job_ids)}",
        f"--format={SEP.join(SQUEUE_STATUS_FIELDS)}",
    )  # fmt: skip


def sacct_status(slurm_job_ids: Collection[str]) -> tuple[str, ...]:
    """One sacct call for these jobs; ``--jobs`` lifts sacct's default since-midnight window."""
    return (
        "sacct", "--noheader", "--parsable2", f"--delimiter={SEP}", "--allocations",
        f"--jobs={_ids(slurm_job_ids)}", f"--format={','.join(SACCT_STATUS_FIELDS)}",
    )  # fmt: skip


def sacct_usage(slurm_job_ids: Collection[str]) -> tuple[str, ...]:
    """What these jobs used, one line per run: ``--duplicates`` keeps the earlier runs of a
    requeued job (state REQUEUED, or NODE_FAIL when the node died), each billed by Slurm, which
    sacct otherwise hides behind the last one; array tasks are lines of their own."""
    return (
        "sacct", "--noheader", "--parsable2", f"--delimiter={SEP}", "--allocations", "--duplicates",
        f"--jobs={_ids(slurm_job_ids)}", f"--format={','.join(SACCT_USAGE_FIELDS)}",
    )  # fmt: skip


def sacct_end_details(slurm_job_ids: Collection[str]) -> tuple[str, ...]:
    """The steps of these ended jobs with their peak memory, and the job's own request."""
    return (
        "sacct", "--noheader", "--parsable2", f"--delimiter={SEP}", f"--jobs={_ids(slurm_job_ids)}",
        f"--format={','.join(SACCT_END_FIELDS)}",
    )  # fmt: skip


def user_names(uids: Collection[str]) -> tuple[str, ...]:
    """The password-database entries of these numeric uids (who cancelled a job: sacct only
    says ``CANCELLED by 1001``). Digits only reach the command line."""
    checked = [uid for uid in dict.fromkeys(uids) if _UID.fullmatch(uid)]
    if len(checked) != len(set(uids)) or not checked:
        raise UnsafeValue(f"uids {sorted(set(uids))!r} must be plain numbers")
    return ("getent", "passwd", *checked)


def squeue_tags(job: str | None = None) -> tuple[str, ...]:
    """The login's own queued jobs with their comments (array tasks folded into one line);
    only ``job`` (and its tasks) when given."""
    jobs = (f"--jobs={values.slurm_job_id(job)}",) if job is not None else ()
    return ("squeue", "--noheader", "--me", "--states=all", *jobs, f"--format={SEP.join(SQUEUE_TAG_FIELDS)}")


def sacct_tags(since: str = "now-30days", job: str | None = None, user: str | None = None) -> tuple[str, ...]:
    """The login's own jobs known to accounting since ``since``, with their comments; only
    ``job`` of ``user`` when given (``--jobs`` alone would show any user's job of that id).

    Without ``--starttime`` sacct only looks back to midnight. The comment reaches slurmdbd
    only with AccountingStoreFlags=job_comment (checked before the first lookup, see
    ``scontrol_show_config``); queued jobs are found through squeue.
    """
    if not _SINCE.match(since):
        raise UnsafeValue(f"since {since!r} must look like now-30days or 2026-01-31")
    if (job is None) != (user is None):
        raise ValueError("a job is looked up with its user")
    narrow = (f"--user={values.login(user)}", f"--jobs={values.slurm_job_id(job)}") if job and user else ()
    return (
        "sacct", "--noheader", "--parsable2", f"--delimiter={SEP}", "--allocations",
        f"--starttime={since}", "--endtime=now", f"--state={','.join(FINAL_STATE_CODES)}", *narrow,
        f"--format={','.join(SACCT_TAG_FIELDS)}",
    )  # fmt: skip


def sacct_by_accounts(
    accounts: Collection[str], since: str, until: str, slurm_job_ids: Collection[str] = ()
) -> tuple[str, ...]:
    """Every user's jobs of these accounts active between ``since`` and ``until``
    (``YYYY-MM-DDTHH:MM:SS`` in the cluster's zone), every run of a requeued job included;
    only ``slurm_job_ids`` when given (the narrow check before a large outside charge).

    No ``--state`` filter: the current run of a requeued job must show, pending or running,
    or an earlier run that ended NODE_FAIL (a final state) would look like the job's end and
    be charged alone (``cli_backend.accounted_jobs`` charges an id once its last run ended).
    No free-text field: comments are asked separately (``sacct_comments``).
    """
    names = [values.account(a, "account") for a in dict.fromkeys(accounts)]
    if not names:
        raise ValueError("at least one account is needed")
    for value in (since, until):
        if not _WINDOW_TIME.match(value):
            raise UnsafeValue(f"time {value!r} must look like 2026-01-31T08:00:00")
    jobs = (f"--jobs={_ids(slurm_job_ids)}",) if slurm_job_ids else ()
    return (
        "sacct", "--noheader", "--parsable2", f"--delimiter={SEP}", "--allocations", "--allusers",
        "--duplicates", f"--accounts={','.join(names)}", f"--starttime={since}", f"--endtime={until}",
        *jobs, f"--format={','.join(SACCT_USAGE_FIELDS)}",
    )  # fmt: skip


def sacct_comments(slurm_job_ids: Collection[str]) -> tuple[str, ...]:
    """The comments of these jobs (array tasks by their ``123_4`` id), one framed line each
    (no ``--duplicates``: sacct prints the latest job of an id once)."""
    return (
        "sacct", "--noheader", "--parsable2", f"--delimiter={SEP}", "--allocations",
        f"--jobs={_ids(slurm_job_ids)}", f"--format={','.join(SACCT_COMMENT_FIELDS)}",
    )  # fmt: skip


def scancel(slurm_job_id: str) -> tuple[str, ...]:
    return ("scancel", values.slurm_job_id(slurm_job_id))


# What ``tail``'s command prints instead when its path leads to no regular file.
NOT_A_REGULAR_FILE = b"\x1emyriagate: not a regular file\x1e\n"


def tail(path: str, max_bytes: int) -> tuple[str, ...]:
    """The last ``max_bytes`` of a regular file; ``--`` so a path can never be read as an option.

    The job's owner controls the path: ``tail`` alone would wait forever opening a FIFO put
    there (holding a gateway thread for the whole command timeout, on every poll) or read a
    device. ``find -L`` looks at what the path leads to and runs ``tail`` only for a regular
    file, else prints ``NOT_A_REGULAR_FILE`` (a file swapped in between the two is left to the
    command timeout). ``-exec … +`` passes tail's own failure on as find's exit status.
    """
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    checked = values.file_pattern(path, "path")
    if not checked.startswith("/"):  # find reads a path such as '!' or '(' as its expression
        raise UnsafeValue(f"path {checked!r} must be absolute")
    return (
        "find", "-L", "--", checked, "-maxdepth", "0",
        "-type", "f", "-exec", "tail", "-c", str(int(max_bytes)), "--", "{}", "+",
        "-o", "-printf", "\\036myriagate: not a regular file\\036\\n",
    )  # fmt: skip


# What ``read_private``'s command prints instead when the way to the file is not the login's alone.
NOT_PRIVATE = b"\x1emyriagate: not private\x1e\n"


def read_private(path: str, home: str, login: str, max_bytes: int) -> tuple[str, ...]:
    """``tail`` of a file below ``home`` only if the file and every directory down to it from
    the home (itself included) belong to ``login``, are writable by nobody else and are no
    symbolic links (the home itself may be reached through one): as OpenSSH checks the files
    it trusts. Else prints ``NOT_PRIVATE`` and stops before reading.

    ``find -P`` looks at each of these paths without following a link at its last component;
    the first that fails the check prints the marker and quits, so the file is never queued.
    """
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    checked, root = values.file_pattern(path, "path"), values.file_pattern(home.rstrip("/") or "/", "home")
    if not root.startswith("/") or not checked.startswith(root.rstrip("/") + "/"):
        raise UnsafeValue(f"path {checked!r} must be below the absolute directory {root!r}")
    parts = checked[len(root.rstrip("/")) + 1 :].split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeValue(f"path {checked!r} must name each directory once")
    base = root.rstrip("/")
    ways = [f"{base}/."] + [f"{base}/{'/'.join(parts[: i + 1])}" for i in range(len(parts))]
    return (
        "find", "-P", "--", *ways, "-maxdepth", "0",
        "(", "-type", "l", "-o", "!", "-user", values.login(login), "-o", "-perm", "/022",
        "-o", "!", "(", "-type", "d", "-o", "-type", "f", ")", ")",
        "-printf", "\\036myriagate: not private\\036\\n", "-quit",
        "-o", "-type", "f", "-exec", "tail", "-c", str(int(max_bytes)), "--", "{}", "+",
    )  # fmt: skip


def login_name() -> tuple[str, ...]:
    """The login the runner acts as (whose jobs a tag lookup may find)."""
    return ("id", "-un")


def home_dir() -> tuple[str, ...]:
    """The login's home: sshd and LocalRunner both set HOME from the password database."""
    return ("printenv", "HOME")


def scontrol_ping() -> tuple[str, ...]:
    return ("scontrol", "ping")


def scontrol_show_config() -> tuple[str, ...]:
    """The controller's configuration (``AccountingStoreFlags`` must include job_comment)."""
    return ("scontrol", "show", "config")


def sinfo_partitions() -> tuple[str, ...]:
    """Partition name (%R, without the default's ``*``) and availability (up, down, drain…)."""
    return ("sinfo", "--noheader", f"--format=%R{SEP}%a")


def slurm_version() -> tuple[str, ...]:
    return ("sbatch", "--version")
