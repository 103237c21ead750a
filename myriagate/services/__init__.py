"""Use cases, grouped by what they do for someone; they reach adapters only through ``ports``.

Packages, from the top of the order down; each may import only those below it (an
import-linter ``layers`` contract in pyproject.toml keeps the order):

- ``runtime``: what ``myriagate worker`` runs (pollers, staging, settlement, notifications:
  threads, leases, signals), the cached cluster health and the database gauges of
  ``/metrics``; ``dashboard`` (a module beside it): what a researcher's dashboard shows.
- ``submission``: submitting a job and its dry run (preview).
- ``staging``: uploads, the staging plan of a submission, residency checks, the worker's
  transfer step, datasets.
- ``allocations``: periods, quotas, grants, the hold a job takes and the charge it pays,
  settlement, reconciliation with Slurm's accounting, ``slurm-sync``, usage reports.
- ``people``: authentication, users and memberships, the admin directory, credentials.
- ``jobs``: sending a job to Slurm and recording the outcome, tracking, state transitions,
  cancelling, outputs, job queries, templates, lost jobs.
- ``notifications``: the outbox (what is worth telling whom), its sender, the balance watch.
- ``common``: audit records, the authorisation matrix, leases.

The composition root (``myriagate.wiring``) builds the use cases once from settings and
profiles; web handlers and CLI commands call them.
"""
