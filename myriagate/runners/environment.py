"""The environment every cluster command runs with: chosen by the gateway, never inherited.

``sbatch`` reads ``SBATCH_*`` input variables (account, QOS, ``--exclusive``, ``--export``…)
and they override the script's directives; ``squeue``/``sacct`` read ``SQUEUE_FORMAT``,
``SLURM_TIME_FORMAT``, ``TZ``…, which would change what the parsers see; and with sbatch's
default ``--export=ALL`` whatever the submitting process holds (the gateway's secrets, a
login's exports) would reach the job. So no command inherits an environment:

- ``LocalRunner`` hands ``subprocess`` exactly ``login_environment`` (root switching to a login,
  the gateway's own user alike);
- ``SshRunner`` starts every command through ``env -i`` with the same variables
  (``remote_prefix``): sshd runs a command through the login's shell, which reads start-up
  files first (bash reads ``~/.bashrc`` for ``ssh host cmd``, measured on Debian 12), so
  anything exported there is dropped before Slurm starts.

What this does not stop: a login that redefines its own commands (a shell function named
``sbatch`` in ``~/.bashrc``) changes what its own commands do, which is no more than that
login can do by running Slurm itself; Slurm's associations bound it either way.
"""

from __future__ import annotations

import shlex

from myriagate.domain import values

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
LANG = "C.UTF-8"
# Absolute, so the login's PATH has no say in which program clears the environment.
ENV_PROGRAM = "/usr/bin/env"


def login_environment(login: str, home: str, path: str = DEFAULT_PATH) -> dict[str, str]:
    """The whole environment of a command run as ``login`` (a name the caller checked)."""
    return {
        "HOME": home,
        "USER": login,
        "LOGNAME": login,
        "PATH": values.search_path(path, "command path"),
        "LANG": LANG,
    }


def remote_prefix(login: str, path: str = DEFAULT_PATH) -> str:
    """The start of every command line ``SshRunner`` sends: ``/usr/bin/env -i`` and the same
    variables as ``login_environment``.

    HOME comes from the remote side (``"$HOME"``, which sshd set from the password database):
    a double-quoted ``$HOME`` reads the same in sh, bash, zsh and tcsh. Every other value is a
    validated constant.
    """
    fixed = login_environment(values.login(login), "", path)
    del fixed["HOME"]
    assignments = shlex.join(f"{name}={value}" for name, value in fixed.items())
    return f'{ENV_PROGRAM} -i "HOME=$HOME" {assignments} '
