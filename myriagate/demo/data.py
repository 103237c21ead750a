"""What the demo seeds and submits; mirrors the accounts, users and associations that
deploy/devcluster/up.sh makes on the dev cluster."""

from __future__ import annotations

from dataclasses import dataclass

from myriagate.db.models.users import MembershipRole


@dataclass(frozen=True)
class DemoUser:
    username: str
    login: str
    display_name: str
    institution: str
    accounts: tuple[tuple[str, MembershipRole], ...]


# Mirrors the Slurm account tree made by deploy/devcluster/up.sh: institutions, then projects.
DEMO_INSTITUTIONS: tuple[tuple[str, str], ...] = (
    ("unicaen", "Université de Caen Normandie"),
    ("urouen", "Université de Rouen Normandie"),
)
DEMO_PROJECTS: tuple[tuple[str, str, str], ...] = (
    ("caen-climat", "unicaen", "Climat régional normand"),
    ("caen-bio", "unicaen", "Biologie structurale"),
    ("rouen-chimie", "urouen", "Chimie théorique"),
)


# Mirrors the Unix users and Slurm associations made by deploy/devcluster/up.sh.
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser(
        "alice",
        "alice",
        "Alice Martin (Université de Caen Normandie)",
        "unicaen",
        (("caen-climat", MembershipRole.RESEARCHER),),
    ),
    DemoUser(
        "bob",
        "bob",
        "Bob Lefèvre (Université de Rouen Normandie)",
        "urouen",
        (("rouen-chimie", MembershipRole.RESEARCHER),),
    ),
    DemoUser(
        "carol",
        "carol",
        "Carol Dubois (Université de Caen Normandie)",
        "unicaen",
        (("caen-climat", MembershipRole.PROJECT_LEAD), ("caen-bio", MembershipRole.RESEARCHER)),
    ),
)

# (username, script, overrides): a success, a failure with exit code 3, an array, a long one.
DEMO_JOBS: tuple[tuple[str, str, dict[str, str]], ...] = (
    (
        "alice",
        "#!/bin/bash\n#SBATCH --job-name=demo-hello\n#SBATCH --time=00:05:00\n"
        'echo "bonjour from $(hostname) as $(id -un)"\nsleep 5\n',
        {"partition": "debug"},
    ),
    (
        "bob",
        "#!/bin/bash\n#SBATCH -J demo-fails\n#SBATCH -t 5\necho about to fail >&2\nsleep 3\nexit 3\n",
        {"partition": "debug"},
    ),
    (
        "carol",
        "#!/bin/bash\n#SBATCH --array=0-2\n#SBATCH --job-name=demo-array\n#SBATCH --time=5\n"
        "echo task $SLURM_ARRAY_TASK_ID\nsleep 4\n",
        {"account": "caen-bio"},
    ),
    (
        "alice",
        "#!/bin/bash\n#SBATCH --job-name=demo-long\n#SBATCH --time=00:10:00\nsleep 20\necho done\n",
        {},
    ),
)


# The dev cluster's platform admin and Caen's university admin run no jobs (no project), but each
# is a person with a personal cluster login (deploy/devcluster/up.sh makes the Unix users, with
# no Slurm association: nothing to charge), never the gateway's own service login "myriagate",
# which the gateway refuses to act as for a person (profiles/logins.py).
DEMO_ADMIN = DemoUser("admin", "admin", "Admin CRIANN (plateforme)", "unicaen", ())
DEMO_UNIVERSITY_ADMIN = DemoUser("diane", "diane", "Diane Moreau (admin, Université de Caen)", "unicaen", ())
# Everyone the demo seeds.
ALL_PEOPLE: tuple[DemoUser, ...] = (*DEMO_USERS, DEMO_ADMIN, DEMO_UNIVERSITY_ADMIN)


# Demo compute time for the current calendar year: institution quotas, then project grants.
DEMO_QUOTA_HOURS = 100_000
DEMO_GRANT_HOURS: dict[str, int] = {"caen-climat": 10_000, "caen-bio": 2_000, "rouen-chimie": 5_000}


STAGED_DEMO_SCRIPT = """#!/bin/bash
#SBATCH --job-name=demo-staging
#SBATCH --time=00:05:00
#SBATCH --partition=debug
set -eu
mkdir -p results
awk -F, 'NR > 1 { s += $2; n++ } END { printf "mean temperature: %.2f\\n", s / n }' data/temperatures.csv \\
    > results/summary.txt
sha256sum data/temperatures.csv > results/inputs.sha256
"""
STAGED_DEMO_INPUT = b"day,temperature\n1,11.5\n2,12.0\n3,13.25\n4,12.75\n"
