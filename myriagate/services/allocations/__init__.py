"""Allocations: periods, institution quotas and project grants; the hold a job takes at
submission and the charge it pays when it ends (settlement); whether allocations are
enforced; reconciliation against Slurm's accounting; ``slurm-sync``; usage reports."""
