"""The sbatch options the gateway refuses on purpose, each with the reason shown to the user."""

from __future__ import annotations

from myriagate.domain.sbatch_options.spec import OptionSpec
from myriagate.domain.sbatch_options.spec import refused as _refused

REFUSED_OPTIONS: tuple[OptionSpec, ...] = (
    _refused(
        "comment",
        "the gateway sets --comment itself to tag the job",
        "la passerelle fixe --comment elle-même pour marquer le job",
    ),
    _refused(
        "uid", "a job always runs as your own login", "un job s'exécute toujours sous votre propre compte"
    ),
    _refused(
        "gid", "a job always runs with your own groups", "un job s'exécute toujours avec vos propres groupes"
    ),
    _refused(
        "wckey",
        "workload keys are set by the centre, not by jobs",
        "les clés de charge sont fixées par le centre",
    ),
    _refused(
        "wrap",
        "a script carries its own commands; --wrap is for the command line only",
        "un script porte ses propres commandes ; --wrap est réservé à la ligne de commande",
    ),
    _refused(
        "get-user-env",
        "the job environment is chosen with --export only",
        "l'environnement du job se choisit avec --export seulement",
    ),
    _refused(
        "export-file",
        "the job environment is chosen with --export only",
        "l'environnement du job se choisit avec --export seulement",
    ),
    _refused(
        "propagate",
        "limits of the gateway's own session must not reach your job",
        "les limites de la session de la passerelle ne doivent pas atteindre votre job",
    ),
    _refused(
        "clusters",
        "the cluster is chosen in the gateway, not in the script",
        "le cluster se choisit dans la passerelle, pas dans le script",
        short="M",
    ),
    _refused(
        "cluster-constraint",
        "the cluster is chosen in the gateway, not in the script",
        "le cluster se choisit dans la passerelle, pas dans le script",
    ),
    _refused(
        "hold",
        "the gateway cannot release a held job for you; use --begin",
        "la passerelle ne peut pas libérer un job retenu ; utilisez --begin",
        short="H",
    ),
    _refused(
        "priority",
        "only administrators set priorities; use --nice to lower yours",
        "seuls les administrateurs fixent la priorité ; --nice baisse la vôtre",
    ),
    _refused(
        "nodefile",
        "it names a file on the submitting machine; use --nodelist",
        "il désigne un fichier de la machine de soumission ; utilisez --nodelist",
        short="F",
    ),
    _refused(
        "wait",
        "the gateway follows your job itself (myriagate submit --wait)",
        "la passerelle suit le job elle-même (myriagate submit --wait)",
        short="W",
    ),
    _refused(
        "parsable",
        "it is an output flag of the command: use myriagate submit --parsable",
        "c'est une option d'affichage : utilisez myriagate submit --parsable",
    ),
    _refused("test-only", "use myriagate submit --dry-run", "utilisez myriagate submit --dry-run"),
    _refused(
        "ignore-pbs", "the gateway always ignores #PBS lines", "la passerelle ignore toujours les lignes #PBS"
    ),
)
