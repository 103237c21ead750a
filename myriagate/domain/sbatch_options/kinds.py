"""Value types of sbatch options: how a written value is read, checked and written back.

Every reader takes the text as written (script, command line, form or API) and returns the
value JobSpec stores, or raises JobSpecInvalid / UnsafeValue naming what is wrong. Each value
later travels to sbatch as part of one argv element (``--name=value``), never through a
shell, and is re-checked by the same reader when the argv is built.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from myriagate.domain import values
from myriagate.domain.walltime import format_walltime, parse_walltime
from myriagate.errors import JobSpecInvalid, Text, UnsafeValue

Reader = Callable[[str, "ReadContext"], object]
ApiType = Literal["int", "str", "flag"]


@dataclass(frozen=True)
class ReadContext:
    """What a reader may need beyond the text: the user's home on the cluster (``--chdir``)."""

    home: str | None = None


@dataclass(frozen=True)
class Kind:
    """One value type: its reader, its writer back to sbatch's text, and its API/CLI type."""

    name: str
    read: Reader
    api_type: ApiType = "str"
    example: str = ""
    # Options with an optional value (``--exclusive[=user]``): the value when none is written.
    bare: str | None = None

    def write(self, value: object) -> str:
        return _WRITERS.get(self.name, str)(value)


_POSITIVE = re.compile(r"^\d{1,9}\Z")
_HUGE_NUMBER = re.compile(r"\d{13}")  # 13 digits: more than any count, size or time Slurm takes
# Slurm's MaxArraySize is at most 4000001: no higher index can ever be submitted.
MAX_ARRAY_INDEX = 4_000_000
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}\Z")
# Never a leading '-': Slurm passes the address to MailProg as an argument (mail -s … <user>).
_EMAIL = re.compile(r"^(?!-)[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}\Z")
_FEATURES = re.compile(r"^[A-Za-z0-9_.\-&|,\[\]()*]{1,512}\Z")
_FEATURE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_HOSTLIST = re.compile(r"^[A-Za-z0-9_.\-,\[\]]{1,1024}\Z")
_DISTRIBUTION = re.compile(
    r"^(\*|block|cyclic|arbitrary|plane=\d{1,6})(:(\*|block|cyclic|fcyclic)){0,2}(,(Pack|NoPack))?\Z"
)
_SIGNAL = re.compile(r"^(?:(R|B|RB|BR):)?([A-Z0-9]{1,12})(?:@(\d{1,5}))?\Z")
_SIGNALS = {
    "HUP", "INT", "QUIT", "ABRT", "KILL", "ALRM", "TERM", "USR1", "USR2", "URG", "CONT", "STOP",
    "TSTP", "TTIN", "TTOU", "XCPU", "SIGHUP", "SIGINT", "SIGQUIT", "SIGABRT", "SIGKILL",
    "SIGALRM", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGURG", "SIGCONT", "SIGSTOP", "SIGTSTP",
    "SIGTTIN", "SIGTTOU", "SIGXCPU",
}  # fmt: skip
# name[@server][:count], joined by ',' (all) or '|' (any one; Slurm 23.02 and later only)
_LICENSE = r"[A-Za-z0-9_.-]{1,64}(?:@[A-Za-z0-9_.-]{1,64})?(?::\d{1,6})?"
_LICENSES = re.compile(rf"^{_LICENSE}(?:[,|]{_LICENSE})*$")
_SWITCHES = re.compile(r"^(\d{1,4})(?:@(.+))?\Z")
_GPUS = re.compile(r"^(?:([A-Za-z][A-Za-z0-9_.-]{0,63}):)?(\d{1,4})\Z")
# --begin / --deadline: sbatch's time forms (sbatch(1), "--begin").
_CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?(?:[AaPp][Mm])?"
_DATE = r"(?:\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?)?|\d{4}(?:\d{2})?|\d{1,2}/\d{1,2}(?:/\d{2,4})?)"
_RELATIVE = r"now(?:\+\d{1,9}(?:seconds?|minutes?|hours?|days?|weeks?)?)?"
_NAMED = r"(?:today|tomorrow|midnight|noon|elevenses|fika|teatime)"
_WHEN = re.compile(
    rf"^(?:{_RELATIVE}|{_NAMED}|{_CLOCK}|{_DATE}|{_DATE}[T ]{_CLOCK}|{_CLOCK} {_DATE})$", re.IGNORECASE
)
MAIL_TYPES = frozenset(
    [
        "NONE",
        "BEGIN",
        "END",
        "FAIL",
        "REQUEUE",
        "ALL",
        "INVALID_DEPEND",
        "STAGE_OUT",
        "TIME_LIMIT",
        "TIME_LIMIT_90",
        "TIME_LIMIT_80",
        "TIME_LIMIT_50",
        "ARRAY_TASKS",
    ]
)
HINTS = frozenset({"compute_bound", "memory_bound", "multithread", "nomultithread"})
# --export: names a job may not receive from the submission, whatever their value: they
# change how every program (or the shell itself) runs before the script's first line.
_UNSAFE_EXPORTS = re.compile(
    r"^(PATH|IFS|ENV|BASH_ENV|SHELLOPTS|BASHOPTS|PS4|PROMPT_COMMAND|CDPATH|GLOBIGNORE|HOME|"
    r"LD_\w*|DYLD_\w*|BASH_FUNC_\w*|PYTHON(?:PATH|STARTUP|HOME)|PERL5?LIB|PERL5OPT|"
    r"SLURM_\w*|SBATCH_\w*|SRUN_\w*|SALLOC_\w*|MYRIAGATE_\w*)$"
)
_EXPORT_KEYWORDS = frozenset({"ALL", "NONE", "NIL"})  # NIL: sbatch 22.05 reads it as NONE
_EXPORT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
_EXPORT_VALUE = re.compile(r"^[A-Za-z0-9_./:@+-]{0,512}\Z")


def positive(text: str, _: ReadContext) -> int:
    value = text.strip()
    if not _POSITIVE.match(value) or int(value) < 1:
        raise JobSpecInvalid(Text("%(text)s must be a whole number of at least 1", text=repr(text)))
    return int(value)


def non_negative(text: str, _: ReadContext) -> int:
    value = text.strip()
    if not _POSITIVE.match(value):
        hint = (
            Text(" (a negative nice value raises priority: only administrators may)")
            if value.startswith("-")
            else ""
        )
        raise JobSpecInvalid(
            Text("%(text)s must be a whole number of 0 or more%(hint)s", text=repr(text), hint=hint)
        )
    return int(value)


def _bounded(text: str) -> str:
    """``text`` when none of its numbers is longer than any Slurm takes. Checked before any
    int(): Python refuses to convert 4,300 digits (ValueError), and an index past 2**63
    overflows range(), so such a value was a crash, not a refusal."""
    if _HUGE_NUMBER.search(text):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise JobSpecInvalid(
            Text("%(shown)s: a number in it is larger than any Slurm takes", shown=repr(shown))
        )
    return text


def memory(text: str, _: ReadContext) -> int:
    return values.parse_memory_mb(_bounded(text), Text("memory"))


def walltime(text: str, _: ReadContext) -> int:
    return parse_walltime(_bounded(text))


def name(text: str, _: ReadContext) -> str:
    if not _NAME.match(text.strip()):
        raise UnsafeValue(
            Text("%(text)s is not a valid name: letters, digits, '_', '.', '-', '+'", text=repr(text))
        )
    return text.strip()


def partition(text: str, _: ReadContext) -> str:
    return values.partition(text.strip())


def account(text: str, _: ReadContext) -> str:
    return values.account(text.strip())


def job_name(text: str, _: ReadContext) -> str:
    return values.job_name(text)


def file_pattern(text: str, _: ReadContext) -> str:
    return values.file_pattern(text, "file")


def array(text: str, _: ReadContext) -> str:
    value = values.array(_bounded(text.strip()))
    for part in value.split("%", 1)[0].split(","):
        bounds, _colon, step = part.partition(":")
        low, _dash, high = bounds.partition("-")
        if int(high or low) > MAX_ARRAY_INDEX:
            raise JobSpecInvalid(
                Text(
                    "%(text)s: array indexes go up to %(max_array_index)s (Slurm's largest)",
                    text=repr(text),
                    max_array_index=MAX_ARRAY_INDEX,
                )
            )
        if int(high or low) < int(low) or (step and int(step) < 1):
            raise JobSpecInvalid(
                Text("%(text)s: %(part)s goes backwards or has a step of 0", text=repr(text), part=part)
            )
    return value


def gres(text: str, _: ReadContext) -> str:
    parsed = values.parse_gres(_bounded(text))
    return ",".join(":".join(p for p in (n, t, str(c)) if p) for n, t, c in parsed)


def gpus(text: str, _: ReadContext) -> str:
    """``N`` or ``type:N`` (``--gpus``, ``--gpus-per-node``, ``--gpus-per-task``)."""
    m = _GPUS.match(text.strip())
    if not m or int(m.group(2)) < 1:
        raise JobSpecInvalid(Text("%(text)s is not a GPU count such as 2 or a100:2", text=repr(text)))
    return text.strip()


def features(text: str, _: ReadContext) -> str:
    """A ``--constraint`` expression: feature names joined by & | , with [ ] ( ) and *N."""
    value = text.strip()
    if not _FEATURES.match(value) or not _FEATURE_NAME.search(value):
        raise UnsafeValue(
            Text("%(text)s is not a feature expression such as broadwell or 'ib&avx2'", text=repr(text))
        )
    return value


def feature_names(expression: str) -> tuple[str, ...]:
    """The node features an expression names (``[ib&avx2]*2|skx`` -> ib, avx2, skx)."""
    return tuple(dict.fromkeys(_FEATURE_NAME.findall(expression)))


def hostlist(text: str, _: ReadContext) -> str:
    value = text.strip()
    if not _HOSTLIST.match(value):
        raise UnsafeValue(Text("%(text)s is not a host list such as node[001-004],node010", text=repr(text)))
    return value


def hint(text: str, _: ReadContext) -> str:
    value = text.strip().lower()
    if value not in HINTS:
        raise JobSpecInvalid(
            Text(
                "%(text)s is not a hint; use one of %(hints)s",
                text=repr(text),
                hints=", ".join(sorted(HINTS)),
            )
        )
    return value


def distribution(text: str, _: ReadContext) -> str:
    value = text.strip()
    if not _DISTRIBUTION.match(value):
        raise JobSpecInvalid(
            Text("%(text)s is not a distribution such as block, cyclic or block:cyclic", text=repr(text))
        )
    return value


def exclusive(text: str, _: ReadContext) -> str:
    value = text.strip().lower()
    if value not in {"", "user", "mcs"}:
        raise JobSpecInvalid(Text("%(text)s: --exclusive takes no value, or user, or mcs", text=repr(text)))
    return value or "node"


def open_mode(text: str, _: ReadContext) -> str:
    value = text.strip().lower()
    if value not in {"append", "truncate"}:
        raise JobSpecInvalid(Text("%(text)s: --open-mode is append or truncate", text=repr(text)))
    return value


def yes_no(text: str, _: ReadContext) -> str:
    value = text.strip().lower()
    if value not in {"yes", "no"}:
        raise JobSpecInvalid(Text("%(text)s: use yes or no", text=repr(text)))
    return value


def flag(text: str, _: ReadContext) -> bool:
    if text.strip():
        raise JobSpecInvalid(Text("this option takes no value (got %(text)s)", text=repr(text)))
    return True


def signal(text: str, _: ReadContext) -> str:
    """``[{R|B}:]<sig>[@<seconds>]``, a signal by number or name (USR1, SIGTERM...)."""
    m = _SIGNAL.match(text.strip().upper())
    if not m or not ((m.group(2).isdigit() and 1 <= int(m.group(2)) <= 64) or m.group(2) in _SIGNALS):
        raise JobSpecInvalid(Text("%(text)s is not a signal such as USR1@60 or B:TERM@120", text=repr(text)))
    if m.group(3) is not None and int(m.group(3)) > 65535:
        raise JobSpecInvalid(Text("%(text)s: the warning time is at most 65535 seconds", text=repr(text)))
    return m.group(0)  # as matched, in capitals: "uſr1".upper() is "USR1", sbatch's is not


def when(text: str, _: ReadContext) -> str:
    """A ``--begin`` / ``--deadline`` time in one of sbatch's forms."""
    value = text.strip()
    if not _WHEN.match(value):
        raise JobSpecInvalid(
            Text(
                "%(text)s is not a time sbatch reads: now+1hour, 16:00, 2027-01-31T08:00, tomorrow…",
                text=repr(text),
            )
        )
    return value


def licenses(text: str, _: ReadContext) -> str:
    value = text.strip()
    if not _LICENSES.match(value):
        raise JobSpecInvalid(
            Text("%(text)s is not a licence list such as matlab:2 or ansys,comsol:1", text=repr(text))
        )
    return value


def license_names(expression: str) -> tuple[str, ...]:
    """The licences named, with their server (``ansys@flexlm``) as Slurm names remote ones."""
    return tuple(part.split(":")[0] for part in re.split(r"[,|]", expression) if part)


def switches(text: str, _: ReadContext) -> str:
    m = _SWITCHES.match(text.strip())
    if not m:
        raise JobSpecInvalid(Text("%(text)s is not a switch count such as 1 or 1@12:00:00", text=repr(text)))
    if m.group(2) is not None:
        parse_walltime(_bounded(m.group(2)))
    return text.strip()


def mail_types(text: str, _: ReadContext) -> str:
    chosen = [t.strip().upper() for t in text.split(",")]
    unknown = [t for t in chosen if t not in MAIL_TYPES]
    if unknown or not chosen:
        raise JobSpecInvalid(
            Text(
                "%(text)s: unknown mail type; use %(mail_types)s",
                text=repr(text),
                mail_types=", ".join(sorted(MAIL_TYPES)),
            )
        )
    return ",".join(chosen)


def email(text: str, _: ReadContext) -> str:
    value = text.strip()
    if not _EMAIL.match(value):
        raise UnsafeValue(Text("%(text)s is not an e-mail address", text=repr(text)))
    return value


def export(text: str, _: ReadContext) -> str:
    """``ALL``, ``NONE``, either followed by variables, or only variables (sbatch then passes
    those and ``SLURM_*`` alone). Variables are plain ``NAME`` or ``NAME=value`` items; names
    that change how the job starts (``PATH``, ``LD_PRELOAD``, ``BASH_ENV``…) are refused."""
    items = [i for i in text.strip().split(",") if i]
    if not items:
        raise JobSpecInvalid(Text("--export needs ALL, NONE or a list of variables"))
    out: list[str] = []
    if items[0].upper() in _EXPORT_KEYWORDS:
        out.append(items.pop(0).upper())
    for item in items:
        if item.upper() in _EXPORT_KEYWORDS:
            # sbatch reads these words anywhere in the list, in any case (measured: FOO,all
            # exports everything), never as a variable's name.
            raise JobSpecInvalid(
                Text(
                    "--export: %(item)s is not a variable; ALL or NONE may only come first "
                    "(--export=ALL,FOO=1)",
                    item=repr(item),
                )
            )
        key, eq, val = item.partition("=")
        if not _EXPORT_NAME.match(key) or _UNSAFE_EXPORTS.match(key.upper()):
            raise UnsafeValue(
                Text("--export of %(key)s is refused: it would change how the job starts", key=repr(key))
            )
        if eq and not _EXPORT_VALUE.match(val):
            raise UnsafeValue(
                Text("--export %(key)s: the value may hold only letters, digits and ./:@+-_", key=key)
            )
        out.append(f"{key}={val}" if eq else key)
    return ",".join(out)


def chdir(text: str, ctx: ReadContext) -> str:
    path = values.file_pattern(text, "chdir")
    home = ctx.home
    if path == "~" or path.startswith("~/"):
        if home is None:
            raise UnsafeValue(Text("chdir: '~' cannot be used here; give a path relative to your home"))
        path = home.rstrip("/") + path[1:]
    elif path.startswith("~"):
        raise UnsafeValue(
            Text("chdir %(text)s is unsafe: only your own home (~) may be named", text=repr(text))
        )
    if posixpath.isabs(path):
        root = (home or "").rstrip("/")
        normal = posixpath.normpath(path)
        if not root or (normal != root and not normal.startswith(root + "/")):
            raise UnsafeValue(
                Text(
                    "chdir %(text)s is unsafe: it must be relative or inside your home directory",
                    text=repr(text),
                )
            )
        return normal
    return path


_WRITERS: dict[str, Callable[[object], str]] = {
    "walltime": lambda v: format_walltime(int(str(v))),
    "memory": lambda v: f"{int(str(v))}M",
}

K_POSITIVE = Kind("positive", positive, "int", "4")
K_NON_NEGATIVE = Kind("non_negative", non_negative, "int", "10")
K_MEMORY = Kind("memory", memory, "str", "4G")
K_WALLTIME = Kind("walltime", walltime, "str", "01:30:00")
K_NAME = Kind("name", name, "str", "normal")
K_PARTITION = Kind("partition", partition, "str", "court")
K_ACCOUNT = Kind("account", account, "str", "2017018")
K_JOB_NAME = Kind("job_name", job_name, "str", "my-run")
K_FILE = Kind("file", file_pattern, "str", "slurm-%j.out")
K_CHDIR = Kind("chdir", chdir, "str", "runs/2026")
K_ARRAY = Kind("array", array, "str", "0-99%10")
K_GRES = Kind("gres", gres, "str", "gpu:1")
K_GPUS = Kind("gpus", gpus, "str", "a100:2")
K_FEATURES = Kind("features", features, "str", "broadwell")
K_HOSTLIST = Kind("hostlist", hostlist, "str", "node[001-004]")
K_HINT = Kind("hint", hint, "str", "nomultithread")
K_DISTRIBUTION = Kind("distribution", distribution, "str", "block:cyclic")
K_EXCLUSIVE = Kind("exclusive", exclusive, "flag", "", bare="")
K_OPEN_MODE = Kind("open_mode", open_mode, "str", "append")
K_YES_NO = Kind("yes_no", yes_no, "str", "yes")
K_FLAG = Kind("flag", flag, "flag", "", bare="")
K_SIGNAL = Kind("signal", signal, "str", "B:USR1@60")
K_WHEN = Kind("when", when, "str", "now+1hour")
K_LICENSES = Kind("licenses", licenses, "str", "matlab:1")
K_SWITCHES = Kind("switches", switches, "str", "1@12:00:00")
K_MAIL_TYPES = Kind("mail_types", mail_types, "str", "END,FAIL")
K_EMAIL = Kind("email", email, "str", "you@unicaen.fr")
K_EXPORT = Kind("export", export, "str", "NONE")
