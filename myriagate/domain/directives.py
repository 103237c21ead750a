"""``#SBATCH`` directives: read them like sbatch does, refuse the unsafe ones, merge overrides.

The reading follows sbatch(1) and its source (``_opt_batch_script``/``_get_argument``):
directives are lines starting with ``#SBATCH`` or ``#SLURM`` in column 0; reading stops at the
first line that is neither blank nor a comment (the shebang is a comment); words split on
whitespace, single and double quotes group, a backslash escapes the next character and an
unquoted ``#`` starts a comment. Long names resolve as sbatch's getopt does (exact, or an
unambiguous prefix: ``--err`` is ``--error``). What each option means and whether it is
accepted comes from the option table (``domain.sbatch_options``); options the gateway owns or
that would let a script act beyond its own job are refused with the table's reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from myriagate.domain.sbatch_options import lookup, names, table
from myriagate.domain.sbatch_options.merge import merge
from myriagate.domain.sbatch_options.spec import OptionSpec
from myriagate.errors import FieldError, JobSpecInvalid, Text, UnsafeValue

MAGIC_WORDS = ("#SBATCH", "#SLURM")
# sbatch also reads #PBS and #BSUB lines unless told --ignore-pbs; we always pass that flag
# and refuse such lines in the header so nobody wonders why they are not honoured.
FOREIGN_WORDS = ("#PBS", "#BSUB")

_BLANKS = " \t\n\v\f\r"  # C isspace(), as sbatch uses


@dataclass(frozen=True)
class Directive:
    """One option read from a script: the table's name for it, its value, its 1-based line.

    ``written`` is the name as the script spelt it when that differs (``err`` for
    ``error``, ``share`` for ``oversubscribe``), so the user can be told how it was read.
    """

    option: str
    value: str
    line_no: int
    written: str = ""

    @property
    def notice(self) -> str | None:
        if not self.written or self.written == self.option:
            return None
        spec = table.BY_NAME[self.option]
        if self.written in names.LEGACY_NAMES:
            old, new = self.written, self.option
            return Text(
                "line %(line)s: --%(old)s is the old name of --%(new)s; sent as --%(new)s",
                line=self.line_no,
                old=old,
                new=new,
            )
        if self.written in spec.aliases:
            return None  # another name sbatch itself reads the same way (--tasks-per-node)
        return Text(
            "line %(line)s: --%(written)s read as --%(option)s, as sbatch does",
            line=self.line_no,
            written=self.written,
            option=self.option,
        )


def normalise_script(script_text: str) -> tuple[str, tuple[str, ...]]:
    """The script as sbatch can read it, and what was changed: a UTF-8 byte-order mark is
    dropped and Windows line endings become Unix ones (sbatch refuses both)."""
    notices: list[str] = []
    text = script_text
    if text.startswith("\ufeff"):
        text = text[1:]
        notices.append(Text("the script began with a byte-order mark (BOM); it was removed"))
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
        notices.append(Text("the script had Windows line endings (CRLF); they were converted to Unix ones"))
    return text, tuple(notices)


def check_script_text(script_text: str) -> None:
    """Refuse what sbatch would refuse or misread: NUL bytes and Windows line endings."""
    if "\x00" in script_text:
        raise UnsafeValue(Text("the script contains a NUL byte"))
    if "\r\n" in script_text:
        raise JobSpecInvalid(
            Text("the script has Windows line endings (CRLF); convert it, for example with dos2unix")
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
    """Every option in the script header, in order; refused and unknown ones raise."""
    check_script_text(script_text)
    found: list[Directive] = []
    for line_no, line in header_lines(script_text):
        if line.startswith(FOREIGN_WORDS):
            word = line.split()[0]
            raise JobSpecInvalid(
                Text(
                    "line %(line)s: %(word)s directives are not read here; write them as #SBATCH options",
                    line=line_no,
                    word=word,
                ),
                fields=[FieldError(("script", line_no), Text("%(word)s directive", word=word))],
            )
        if not is_directive_line(line):
            continue
        magic = next(m for m in MAGIC_WORDS if line.startswith(m))
        words = _split_words(line[len(magic) :], line_no)
        found.extend(_read_options(words, line_no))
    return found


def notices_of(directives: Sequence[Directive]) -> tuple[str, ...]:
    return tuple(n for d in directives if (n := d.notice) is not None)


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
                Text("line %(line)s: unmatched %(quote)s quote", line=line_no, quote=quote),
                fields=[FieldError(("script", line_no), Text("unmatched %(quote)s quote", quote=quote))],
            )
        if word:
            words.append("".join(word))
        if comment:
            break
    return words


def _read_options(words: Sequence[str], line_no: int) -> list[Directive]:
    """getopt_long over one line's words, with sbatch's names, prefixes and flags."""
    out: list[Directive] = []
    where, loc = Text("line %(line)s", line=line_no), ("script", line_no)
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and len(word) > 2:
            written, eq, value = word[2:].partition("=")
            spec = lookup.resolve_option(written, where=where, loc=loc)
            if not eq and spec.takes_value:
                if i + 1 >= len(words):
                    raise _at_line(line_no, Text("--%(option)s needs a value", option=spec.name))
                i += 1
                value = words[i]
            out.append(Directive(spec.name, value, line_no, written))
        elif word.startswith("-") and len(word) > 1:
            spec = _short_option(word[1], line_no)
            value = word[2:]
            if not value and spec.takes_value:
                if i + 1 >= len(words):
                    raise _at_line(line_no, Text("-%(letter)s needs a value", letter=word[1]))
                i += 1
                value = words[i]
            out.append(Directive(spec.name, value, line_no))
        elif word.lower() in {"hetjob", "packjob", ":"}:
            raise UnsafeValue(
                Text(
                    "line %(line)s: heterogeneous jobs (#SBATCH %(word)s) are not offered through the "
                    "gateway",
                    line=line_no,
                    word=word,
                ),
                fields=[FieldError(loc, Text("heterogeneous jobs are not offered"))],
            )
        else:
            raise _at_line(
                line_no, Text("%(word)s is not an option; write options as --name=value", word=repr(word))
            )
        i += 1
    return out


def _short_option(letter: str, line_no: int) -> OptionSpec:
    where, loc = Text("line %(line)s", line=line_no), ("script", line_no)
    if letter in table.BY_SHORT:
        return lookup.accepted_or_raise(table.BY_SHORT[letter], where=where, loc=loc)
    if letter in table.OTHER_SHORT:
        return lookup.resolve_option(table.OTHER_SHORT[letter], where=where, loc=loc)
    raise UnsafeValue(
        Text("line %(line)s: -%(letter)s is not an sbatch option", line=line_no, letter=letter),
        fields=[FieldError(loc, Text("-%(letter)s is not an sbatch option", letter=letter))],
    )


def _at_line(line_no: int, message: str) -> JobSpecInvalid:
    at = Text("line %(line)s: %(message)s", line=line_no, message=message)
    return JobSpecInvalid(at, fields=[FieldError(("script", line_no), message)])


__all__ = [
    "Directive",
    "check_script_text",
    "header_lines",
    "is_directive_line",
    "merge",
    "normalise_script",
    "notices_of",
    "parse_directives",
]
