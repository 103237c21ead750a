"""The sections options are shown in (``OptionSpec.group``), in order, with their titles.

The web form shows one collapsible section per group and the CLI's ``submit --help`` one
panel per group, both in this order; a test checks every option's group is listed here.
"""

from __future__ import annotations

from myriagate.domain.sbatch_options.spec import Text

GROUPS: dict[str, Text] = {
    "time": Text("Where and how long", "Où et combien de temps"),
    "resources": Text("Size and shape", "Taille et forme"),
    "gpus": Text("GPUs", "GPU"),
    "placement": Text("Placement", "Placement"),
    "scheduling": Text("Scheduling", "Ordonnancement"),
    "files": Text("Name, array, files, environment", "Nom, tableau, fichiers, environnement"),
    "notify": Text("E-mail", "Courriel"),
}
