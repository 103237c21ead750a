"""Template rendering (every value one shell word) and the script + argv handed to sbatch."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from myriagate.domain.directives import header_lines, is_directive_line, merge, parse_directives
from myriagate.domain.jobs import GresRequest, JobSpec
from myriagate.domain.sent_script import HANDLED_PREFIX
from myriagate.errors import ConfigError, InvalidRequest, JobSpecInvalid, UnsafeValue
from myriagate.scripts.render import JinjaScriptRenderer, prepare_script, sbatch_args
from myriagate.settings import Settings
from tests.fakes.hostile import CANARY, HOSTILE_STRINGS

BASH = shutil.which("bash")


@pytest.fixture(scope="module")
def renderer() -> JinjaScriptRenderer:
    return JinjaScriptRenderer(Settings(dev_mode=True))


def test_ships_the_four_templates_with_bilingual_help(renderer: JinjaScriptRenderer) -> None:
    assert renderer.template_names() == ["array", "hello", "mpi", "python"]
    for name in renderer.template_names():
        meta = renderer.metadata(name)
        assert meta.title.en and meta.title.fr
        for param in meta.parameters:
            assert param.help.en and param.help.fr


@pytest.mark.parametrize("name", ["array", "hello", "mpi", "python"])
def test_templates_render_with_defaults_and_carry_no_directives(
    renderer: JinjaScriptRenderer, name: str
) -> None:
    text = renderer.render(name, {})
    assert text.startswith("#!/bin/bash\n")
    assert "#SBATCH" not in text
    assert parse_directives(text) == []


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("name", ["array", "hello", "mpi", "python"])
def test_templates_are_valid_bash(renderer: JinjaScriptRenderer, name: str) -> None:
    text = renderer.render(name, {})
    result = subprocess.run([str(BASH), "-n"], input=text.encode(), capture_output=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
def test_hostile_message_is_printed_verbatim_and_never_executed(
    renderer: JinjaScriptRenderer, hostile: str, tmp_path: Path
) -> None:
    try:
        text = renderer.render("hello", {"message": hostile})
    except InvalidRequest as exc:
        assert exc.detail
        return
    # Run only the printing part of the body: the real loop, with the real quoting.
    body = "\n".join(line for line in text.splitlines() if not line.startswith("echo"))
    canary = Path(CANARY)
    canary.unlink(missing_ok=True)
    result = subprocess.run(
        [str(BASH), "-c", body], capture_output=True, check=False, cwd=tmp_path, env={"PATH": os.defpath}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == hostile + "\n"
    assert not canary.exists()


def test_unknown_and_invalid_parameters_are_listed(renderer: JinjaScriptRenderer) -> None:
    with pytest.raises(JobSpecInvalid) as caught:
        renderer.render("hello", {"mesage": "x", "repeat": 1000})
    detail = caught.value.detail
    assert "unknown parameter 'mesage'; valid: message, repeat" in detail
    assert "repeat: must be at most 100" in detail
    assert {f.loc for f in caught.value.fields} == {("params", "mesage"), ("params", "repeat")}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"repeat": "two"}, "whole number"),
        ({"repeat": True}, "whole number"),
        ({"repeat": 0}, "at least 1"),
        ({"message": "x" * 501}, "longer than 500"),
        ({"message": "bell\x07"}, "control character"),
    ],
)
def test_parameter_types_are_checked(
    renderer: JinjaScriptRenderer, params: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        renderer.render("hello", params)


def test_choice_and_path_parameters(renderer: JinjaScriptRenderer) -> None:
    with pytest.raises(JobSpecInvalid, match="not one of python3, python"):
        renderer.render("python", {"python": "/bin/sh"})
    with pytest.raises(UnsafeValue, match=r"'\.\.'"):
        renderer.render("python", {"script": "../../etc/x.py"})
    text = renderer.render("python", {"script": "run me.py", "args": "a b"})
    assert "exec python3 'run me.py' 'a b'" in text


def test_integer_string_is_accepted_and_rendered_raw(renderer: JinjaScriptRenderer) -> None:
    assert "seq 1 3)" in renderer.render("hello", {"repeat": "3"})


def test_unknown_template_lists_available(renderer: JinjaScriptRenderer) -> None:
    with pytest.raises(JobSpecInvalid, match="available: array, hello, mpi, python"):
        renderer.render("../hello", {})


def test_site_templates_override_bundled_ones(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "hello.sh.j2").write_text("#!/bin/bash\necho site {{ message }}\n")
    (scripts / "hello.toml").write_text(
        'name = "hello"\ntitle = { en = "Site", fr = "Site" }\ndescription = { en = "d", fr = "d" }\n'
        '[[parameters]]\nname = "message"\ntype = "str"\ndefault = "hi there"\n'
        'help = { en = "m", fr = "m" }\n'
    )
    renderer = JinjaScriptRenderer(Settings(dev_mode=True, templates_dir=tmp_path))
    assert renderer.render("hello", {}) == "#!/bin/bash\necho site 'hi there'\n"
    assert "mpi" in renderer.template_names()  # the bundled ones are still there


def test_raw_refuses_anything_but_integers(tmp_path: Path) -> None:
    (tmp_path / "bad.sh.j2").write_text("#!/bin/bash\necho {{ word|raw }}\n")
    (tmp_path / "bad.toml").write_text(
        'name = "bad"\ntitle = { en = "b", fr = "b" }\ndescription = { en = "b", fr = "b" }\n'
        '[[parameters]]\nname = "word"\ntype = "str"\ndefault = "$(id)"\nhelp = { en = "w", fr = "w" }\n'
    )
    with pytest.raises(ConfigError, match=r"\|raw"):
        JinjaScriptRenderer(search_dirs=[tmp_path]).render("bad", {})


def test_undeclared_variable_in_a_template_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "t.sh.j2").write_text("#!/bin/bash\necho {{ nope }}\n")
    (tmp_path / "t.toml").write_text(
        'name = "t"\ntitle = { en = "t", fr = "t" }\ndescription = { en = "t", fr = "t" }\n'
    )
    with pytest.raises(ConfigError, match="undeclared"):
        JinjaScriptRenderer(search_dirs=[tmp_path]).render("t", {})


# --- prepare_script -------------------------------------------------------------------
SCRIPT = """#!/bin/bash
#SBATCH --job-name=mine --comment=evil
#SLURM --uid=0
#PBS -N pbs
  #SBATCH --indented-is-a-comment
echo start
#SBATCH --after-the-header
"""


def test_prepare_script_neutralises_header_directives() -> None:
    rendered = prepare_script(SCRIPT, JobSpec(partition="court"))
    lines = rendered.text.split("\n")
    assert lines[0] == "#!/bin/bash"
    assert lines[1] == HANDLED_PREFIX + "SBATCH --job-name=mine --comment=evil"
    assert lines[2] == HANDLED_PREFIX + "SLURM --uid=0"
    assert lines[3] == HANDLED_PREFIX + "PBS -N pbs"
    assert lines[4] == "  #SBATCH --indented-is-a-comment"  # sbatch itself ignores it
    assert lines[5:] == ["echo start", "#SBATCH --after-the-header", ""]  # body untouched
    assert not any(line.startswith(("#SBATCH", "#SLURM", "#PBS")) for line in lines[:5])


def test_sbatch_args_are_long_options_one_element_each() -> None:
    spec = merge(
        parse_directives(
            "#!/bin/bash\n#SBATCH -J 'my run' -p court -t 90 -N 1 -n 4 -c 2 --mem=4G\n"
            "#SBATCH --gres=gpu:v100:2 -a 0-9%2 -o out/%x_%A_%a.log -e err.log -A caen-climat -D runs\n"
            "#SBATCH --export=NONE\n"
        )
    )
    assert sbatch_args(spec) == (
        "--job-name=my run",
        "--partition=court",
        "--account=caen-climat",
        "--time=01:30:00",
        "--nodes=1",
        "--ntasks=4",
        "--cpus-per-task=2",
        "--mem=4096M",
        "--gres=gpu:v100:2",
        "--array=0-9%2",
        "--output=out/%x_%A_%a.log",
        "--error=err.log",
        "--chdir=runs",
        "--export=NONE",
        "--ignore-pbs",
    )
    assert "--comment" not in " ".join(sbatch_args(spec))  # the backend adds the tag


def test_prepare_script_requires_a_shebang_and_unix_line_endings() -> None:
    with pytest.raises(JobSpecInvalid, match="#!/bin/bash"):
        prepare_script("echo hi\n", JobSpec())
    with pytest.raises(JobSpecInvalid, match="Windows line endings"):
        prepare_script("#!/bin/bash\r\necho hi\r\n", JobSpec())


def test_a_spec_built_by_hand_is_checked_again() -> None:
    with pytest.raises(UnsafeValue):
        sbatch_args(JobSpec(partition="court --uid=0"))
    with pytest.raises(UnsafeValue):
        sbatch_args(JobSpec(output="--uid=0"))
    with pytest.raises(UnsafeValue):
        sbatch_args(JobSpec(gres=(GresRequest(name="gpu,licence", count=1),)))


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
@pytest.mark.parametrize("option", ["job-name", "partition", "output", "error", "account", "time", "array"])
def test_no_hostile_override_adds_an_sbatch_option(option: str, hostile: str) -> None:
    try:
        spec = merge(
            [], {option: hostile, "partition": "court"} if option != "partition" else {option: hostile}
        )
        args = sbatch_args(spec)
    except InvalidRequest as exc:
        assert exc.detail
        return
    prefixes = [a.split("=", 1)[0] for a in args]
    assert len(prefixes) == len(set(prefixes))  # nothing smuggled a second option in
    assert set(prefixes) <= {"--job-name", "--partition", "--output", "--error", "--ignore-pbs"}
    kept = next(a for a in args if a.startswith(f"--{option}="))
    assert kept == f"--{option}={hostile}"  # verbatim, one argv element
    # What SshRunner will send to the remote shell splits back into exactly these words.
    assert shlex.split(shlex.join(["sbatch", *args])) == ["sbatch", *args]


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
def test_hostile_directive_lines_never_reach_sbatch(hostile: str) -> None:
    script = f"#!/bin/bash\n#SBATCH --job-name={hostile}\n#SBATCH {hostile}\necho body\n"
    try:
        spec = merge(parse_directives(script))
    except InvalidRequest:
        spec = JobSpec()
    try:
        rendered = prepare_script(script, spec)
    except InvalidRequest as exc:
        assert exc.detail  # NUL bytes: refused outright
        return
    # Read the result the way sbatch does: no option line may be left in its header.
    assert not any(is_directive_line(line) for _, line in header_lines(rendered.text))


# --- against the real dev cluster -------------------------------------------------------
def _dev_cluster_ready() -> bool:
    if os.geteuid() != 0 or shutil.which("sbatch") is None or shutil.which("runuser") is None:
        return False
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, check=False, timeout=30)
    alice = subprocess.run(["id", "alice"], capture_output=True, check=False)
    return ping.returncode == 0 and b"UP" in ping.stdout and alice.returncode == 0


@pytest.mark.slurm
def test_real_sbatch_obeys_the_argv_and_ignores_neutralised_lines() -> None:
    if not _dev_cluster_ready():
        pytest.skip("dev cluster not up (bash deploy/devcluster/up.sh)")
    script = (
        "#!/bin/bash\n"
        "#SBATCH --comment=evil --partition=long --time=5-00:00:00\n"
        "#PBS -N from-pbs\n"
        "#SLURM --job-name=from-slurm-line\n"
        "echo hi\n"
    )
    directives_spec = merge(parse_directives("#!/bin/bash\n#SBATCH -J x\n"))
    spec = directives_spec.model_copy(
        update={"job_name": "a b $(touch /tmp/myriagate-pwned)", "partition": "debug", "time_limit_s": 60}
    )
    rendered = prepare_script(script, spec)
    submitted = subprocess.run(
        ["runuser", "-u", "alice", "--", "sbatch", "--parsable", "--hold", *rendered.sbatch_args],
        input=rendered.text.encode(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.decode().strip().split(";")[0]
    try:
        shown = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%j\x1f%P\x1f%l\x1f%k"],
            capture_output=True,
            check=True,
            timeout=30,
        )
        name, partition, limit, comment = shown.stdout.decode().strip().split("\x1f")
        assert name == "a b $(touch /tmp/myriagate-pwned)"
        assert partition == "debug"
        assert limit == "1:00"
        assert comment in ("", "(null)")
    finally:
        subprocess.run(["scancel", job_id], check=False, timeout=30)
