"""Jobs once they exist: sending one to Slurm and recording exactly what happened
(``dispatch``), tracking ticks and tag lookups, the one place that writes a job's state
(``transitions``), jobs Slurm lost, cancelling, outputs, queries for the API, templates."""
