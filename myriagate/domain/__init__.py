"""Pure domain rules: job specs and states, walltimes and costs, ``#SBATCH`` directives, safe
values, staging paths and residency, notifications, webhook rules, Slurm accounts as data.
No I/O, no ORM, no web here."""
