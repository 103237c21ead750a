"""Submitting a job: validate the request against the profile and the allocation, write the
intent, stage or send it to Slurm (``submit``), and the same checks as a dry run with nothing
written or sent (``preview``)."""
