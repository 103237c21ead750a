"""``#SBATCH`` directives: read them like sbatch does, refuse the unsafe ones, merge overrides.

The reading follows sbatch(1) and its source (``_opt_batch_script``/``_get_argument``):
directives are lines starting with ``#SBATCH`` or ``#SLURM`` in column 0; reading stops at the
first line that is neither blank nor a comment (the shebang is a comment); words split on
whitespace, single and double quotes group, a backslash escapes the next character and an
unquoted ``#`` starts a comment. Options the gateway owns or that would let a script act
beyond its own job are refused (docs/job-scripts.md says why for each).
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from myriagate.domain import values
from myriagate.domain.jobs import GresRequest, JobSpec
from myriagate.domain.walltime import parse_walltime
from myriagate.errors import FieldError, InvalidRequest, JobSpecInvalid, UnsafeValue

MAGIC_WORDS = ("#SBATCH", "#SLURM")
# sbatch also reads #PBS and #BSUB lines unless told --ignore-pbs; we always pass that flag
# and refuse such lines in the header so nobody wonders why they are not honoured.
FOREIGN_WORDS = ("#PBS", "#BSUB")

# Long option -> short alias, for the options a script may set.
SUPPORTED: dict[str, str | None] = {
    "job-name": "J",
    "partition": "p",
    "time": "t",
    "nodes": "N",
    "ntasks": "n",
    "cpus-per-task": "c",
    "mem": None,
    "mem-per-cpu": None,
    "gres": None,
    "array": "a",
    "output": "o",
    "error": "e",
    "account": "A",
    "chdir": "D",
    "export": None,
}
SHORT: dict[str, str] = {short: long for long, short in SUPPORTED.items() if short}

# Options refused on purpose, with the reason shown to the researcher.
REFUSED: dict[str, str] = {
    "comment": "the gateway sets --comment itself to tag the job",
    "uid": "a job always runs as your own login",
    "gid": "a job always runs with your own groups",
    "wrap": "a script carries its own commands; --wrap is for the command line only",
    "get-user-env": "the job environment is chosen with --export=NONE or --export=ALL only",
    "export-file": "the job environment is chosen with --export=NONE or --export=ALL only",
    "propagate": "limits of the gateway's own session must not reach your job",
    "clusters": "the cluster is chosen in the gateway, not in the script",
    "cluster-constraint": "the cluster is chosen in the gateway, not in the script",
    "reservation": "reservations are not offered through the gateway yet; ask the support team",
    "qos": "the quality of service follows from your account",
    "dependency": "job dependencies are not offered through the gateway yet",
    "mail-type": "the gateway notifies you itself",
    "mail-user": "the gateway notifies you itself",
}
REFUSED_SHORT: dict[str, str] = {"M": "clusters", "q": "qos", "d": "dependency", "U": "account"}

_BLANKS = " \t\n\v\f\r"  # C isspace(), as sbatch uses
_EXPORT = {"ALL", "NONE"}
_POSITIVE = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Directive:
    """One option read from a script: canonical long name (no dashes), value, 1-based line."""

    option: str
    value: str
    line_no: int


def check_script_text(script_text: str) -> None:
    """Refuse what sbatch would refuse or misread: NUL bytes and Windows line endings."""
    if "\x00" in script_text:
        raise UnsafeValue("the script contains a NUL byte")
    if "\r\n" in script_text:
        raise JobSpecInvalid(
            "the script has Windows line endings (CRLF); convert it, for example with dos2unix"
        )


def header_lines(script_text: str) -> list[tuple[int, str]]:
    """The (line number, text) pairs sbatch reads options from: up to the first command."""
    header: list[tuple[int, str]] = []
    for line_no, line in enumerate(script_text.split("\n"), start=1):
        stripped = line.lstrip(_BLANKS)
        if stripped and not stripped.startswith("#"):
            break
        header.append((line_no, line))
    return header


def is_directive_line(line: str) -> bool:
    return line.startswith(MAGIC_WORDS)


def parse_directives(script_text: str) -> list[Directive]:
    """Every supported option in the script header, in order; refused ones raise."""
    check_script_text(script_text)
    found: list[Directive] = []
    for line_no, line in header_lines(script_text):
        if line.startswith(FOREIGN_WORDS):
            word = line.split()[0]
            raise JobSpecInvalid(
                f"line {line_no}: {word} directives are not read here; write them as #SBATCH options",
                fields=[FieldError(("script", line_no), f"{word} directive")],
            )
        if not is_directive_line(line):
            continue
        magic = next(m for m in MAGIC_WORDS if line.startswith(m))
        words = _split_words(line[len(magic) :], line_no)
        found.extend(_read_options(words, line_no))
    return found


def _split_words(text: str, line_no: int) -> list[str]:
    """sbatch's ``_get_argument`` loop: blanks split, quotes group, \\ escapes, # comments."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in _BLANKS:
            i += 1
        if i >= n:
            break
        word: list[str] = []
        quote: str | None = None
        comment = False
        while i < n and (quote is not None or text[i] not in _BLANKS):
            ch = text[i]
            if ch == "\\" and i + 1 < n:
                word.append(text[i + 1])
                i += 2
                continue
            if quote is not None:
                if ch == quote:
                    quote = None
                else:
                    word.append(ch)
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                comment = True
                break
            else:
                word.append(ch)
            i += 1
        if quote is not None:
            raise JobSpecInvalid(
                f"line {line_no}: unmatched {quote} quote",
                fields=[FieldError(("script", line_no), f"unmatched {quote} quote")],
            )
        if word:
            words.append("".join(word))
        if comment:
            break
    return words


def _read_options(words: Sequence[str], line_no: int) -> list[Directive]:
    """getopt_long over one line's words, limited to the supported options."""
    out: list[Directive] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word[2:].partition("=")
            option = canonical_option(name, where=f"line {line_no}", loc=("script", line_no))
            if not eq:
                if i + 1 >= len(words):
                    raise _at_line(line_no, option, f"--{option} needs a value")
                i += 1
                value = words[i]
        elif word.startswith("-") and len(word) > 1:
            letter = word[1]
            option = _short_option(letter, line_no)
            value = word[2:]
            if not value:
                if i + 1 >= len(words):
                    raise _at_line(line_no, option, f"-{letter} needs a value")
                i += 1
                value = words[i]
        else:
            raise _at_line(line_no, "script", f"{word!r} is not an option; write options as --name=value")
        out.append(Directive(option, value, line_no))
        i += 1
    return out


def _short_option(letter: str, line_no: int) -> str:
    if letter in SHORT:
        return SHORT[letter]
    if letter in REFUSED_SHORT:
        return canonical_option(REFUSED_SHORT[letter], where=f"line {line_no}", loc=("script", line_no))
    raise UnsafeValue(
        f"line {line_no}: -{letter} is not supported; supported short options: "
        + ", ".join(f"-{s}" for s in sorted(SHORT)),
        fields=[FieldError(("script", line_no), f"-{letter} is not supported")],
    )


def canonical_option(name: str, *, where: str, loc: tuple[str | int, ...] = ()) -> str:
    """The supported long option ``name``, or UnsafeValue saying why it is refused."""
    key = name.lower().lstrip("-").replace("_", "-")
    if key in SUPPORTED:
        return key
    loc = loc or (key,)
    if key in REFUSED:
        raise UnsafeValue(
            f"{where}: --{key} is not allowed: {REFUSED[key]}", fields=[FieldError(loc, REFUSED[key])]
        )
    close = difflib.get_close_matches(key, SUPPORTED, n=1)
    hint = f"; did you mean --{close[0]}?" if close else ""
    raise UnsafeValue(
        f"{where}: --{key} is not supported{hint} Supported options: "
        + ", ".join(f"--{o}" for o in SUPPORTED),
        fields=[FieldError(loc, f"--{key} is not supported{hint}")],
    )


def _at_line(line_no: int, option: str, message: str) -> JobSpecInvalid:
    return JobSpecInvalid(f"line {line_no}: {message}", fields=[FieldError(("script", line_no), message)])


# --- merging --------------------------------------------------------------------------
def merge(
    directives: Iterable[Directive],
    overrides: Mapping[str, str | int | None] | None = None,
    *,
    home: str | None = None,
) -> JobSpec:
    """A validated JobSpec: script directives, then overrides (the form or command line) win.

    ``home`` is the user's home directory on the cluster: an absolute ``--chdir`` must lie
    under it, and ``~`` / ``~/x`` are expanded to it. Override keys are option names
    (``time``, ``cpus-per-task``; underscores and leading dashes are accepted); a value of
    None leaves the script's value in place.
    """
    chosen: dict[str, tuple[str, tuple[str | int, ...], str]] = {}
    for d in directives:
        option = canonical_option(d.option, where=f"line {d.line_no}", loc=("script", d.line_no))
        chosen[option] = (d.value, ("script", d.line_no), f"line {d.line_no}: --{option}")
    for key, raw in (overrides or {}).items():
        option = canonical_option(key, where=f"option {key!r}")
        if raw is None:
            continue
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise JobSpecInvalid(
                f"--{option}: expected text or a number", fields=[FieldError((option,), "bad type")]
            )
        chosen[option] = (str(raw), (option,), f"--{option}")

    fields: dict[str, object] = {}
    problems: list[FieldError] = []
    unsafe = False
    for option, (value, loc, where) in chosen.items():
        try:
            fields.update(_convert(option, value, home))
        except InvalidRequest as exc:
            unsafe = unsafe or isinstance(exc, UnsafeValue)
            problems.append(FieldError(loc, f"{where}: {exc.detail}"))
    if "mem_mb" in fields and "mem_per_cpu_mb" in fields:
        problems.append(FieldError(("mem",), "--mem and --mem-per-cpu cannot both be given"))
    if problems:
        cls = UnsafeValue if unsafe else JobSpecInvalid
        raise cls("; ".join(p.message for p in problems), fields=problems)
    return JobSpec.model_validate(fields)


def _convert(option: str, value: str, home: str | None) -> dict[str, object]:
    match option:
        case "job-name":
            return {"job_name": values.job_name(value)}
        case "partition":
            return {"partition": values.partition(value)}
        case "account":
            return {"account": values.account(value)}
        case "time":
            return {"time_limit_s": parse_walltime(value)}
        case "nodes":
            return {"nodes": _positive(value, "nodes")}
        case "ntasks":
            return {"ntasks": _positive(value, "ntasks")}
        case "cpus-per-task":
            return {"cpus_per_task": _positive(value, "cpus-per-task")}
        case "mem":
            return {"mem_mb": values.parse_memory_mb(value, "mem")}
        case "mem-per-cpu":
            return {"mem_per_cpu_mb": values.parse_memory_mb(value, "mem-per-cpu")}
        case "gres":
            return {
                "gres": tuple(GresRequest(name=n, type=t, count=c) for n, t, c in values.parse_gres(value))
            }
        case "array":
            return {"array": values.array(value)}
        case "output" | "error":
            return {option: values.file_pattern(value, option)}
        case "chdir":
            return {"chdir": _chdir(value, home)}
        case "export":
            return {"export": _export(value)}
    raise JobSpecInvalid(f"--{option} is not supported")  # unreachable: options are canonical


def _positive(value: str, name: str) -> int:
    text = value.strip()
    if not _POSITIVE.match(text) or int(text) < 1:
        raise JobSpecInvalid(f"{name} {value!r} must be a whole number of at least 1")
    return int(text)


def _export(value: str) -> str:
    upper = value.strip().upper()
    if upper not in _EXPORT:
        raise UnsafeValue(
            f"export {value!r} is unsafe: only NONE or ALL are accepted, so no variable can be injected"
        )
    return upper


def _chdir(value: str, home: str | None) -> str:
    path = values.file_pattern(value, "chdir")
    if path == "~" or path.startswith("~/"):
        if home is None:
            raise UnsafeValue("chdir: '~' cannot be used here; give a path relative to your home")
        path = home.rstrip("/") + path[1:]
    elif path.startswith("~"):
        raise UnsafeValue(f"chdir {value!r} is unsafe: only your own home (~) may be named")
    if posixpath.isabs(path):
        root = (home or "").rstrip("/")
        normal = posixpath.normpath(path)
        if not root or (normal != root and not normal.startswith(root + "/")):
            raise UnsafeValue(f"chdir {value!r} is unsafe: it must be relative or inside your home directory")
        return normal
    return path
