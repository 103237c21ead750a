"""The one table of sbatch options: what the gateway accepts, from where, and what it means.

Every other place that knows an option is built from this table or checked against it by a
test: the directive reader (``domain.directives``), ``JobSpec``'s fields, the sbatch argv
(``scripts.render.sbatch_args``), the API's ``SbatchOptions`` schema, the CLI's ``submit``
options, the web form's fields and the table in ``docs/job-scripts.md``. Adding an option is
one entry here (plus its JobSpec field and, if it limits resources, its profile check).
"""

from __future__ import annotations

from myriagate.domain.sbatch_options.accepted import ACCEPTED_OPTIONS
from myriagate.domain.sbatch_options.refused import REFUSED_OPTIONS
from myriagate.domain.sbatch_options.spec import OptionSpec, Text

OPTIONS: tuple[OptionSpec, ...] = ACCEPTED_OPTIONS + REFUSED_OPTIONS
BY_NAME: dict[str, OptionSpec] = {o.name: o for o in OPTIONS}
ALIASES: dict[str, str] = {alias: o.name for o in OPTIONS for alias in o.aliases}
BY_SHORT: dict[str, OptionSpec] = {o.short: o for o in OPTIONS if o.short}
BY_FIELD: dict[str, OptionSpec] = {o.field: o for o in OPTIONS if o.field}
ACCEPTED: tuple[OptionSpec, ...] = tuple(o for o in OPTIONS if o.policy != "refused")
# sbatch's short options that are flags (no value), so ``-s`` is not read as ``-s<value>``.
SHORT_FLAGS = frozenset("HhkOQsVvW")
# sbatch's short letters for options absent from the table (refused as not offered). sbatch
# 22.05 has no -u: --usage is long only (measured: "invalid option -- 'u'").
OTHER_SHORT = {
    "B": "extra-node-info",
    "k": "no-kill",
    "O": "overcommit",
    "Q": "quiet",
    "S": "core-spec",
    "V": "version",
    "v": "verbose",
    "h": "help",
}


def not_offered(name: str) -> Text:
    """Why an sbatch option absent from the table is refused."""
    return Text(
        f"--{name} is an sbatch option the gateway does not offer; ask the support team if you need it",
        f"--{name} est une option de sbatch que la passerelle ne propose pas ; demandez au support si besoin",
    )
