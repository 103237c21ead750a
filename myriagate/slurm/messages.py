"""What Slurm's command-line clients say on stderr, and what the gateway reads into it.

Patterns are matched against Slurm's own words (``slurm_message`` strips the ``sbatch: error:``
prefixes); each says what a failure means for the request, not only that it failed.
"""

from __future__ import annotations

import re

from myriagate.slurm import parse

# sbatch failures after which the job may exist anyway (the reply, not the request, was lost)
# or that say nothing about the request: the caller must look the tag up before retrying.
UNCERTAIN = re.compile(
    r"Socket timed out|Unable to contact slurm controller|Connection refused|"
    r"Zero Bytes were transmitted|Communication connection failure|temporarily unable",
    re.IGNORECASE,
)
# sbatch could not even connect to slurmctld: the request never left, no job exists. The job
# waits as "cluster unavailable" (a tag lookup still guards the retry, as for every resend).
NOT_SENT = re.compile(r"Unable to contact slurm controller \(connect failure\)", re.IGNORECASE)
INVALID_JOB = re.compile(r"Invalid job id specified", re.IGNORECASE)
ALREADY_DONE = re.compile(r"already complet|Job/step already|Invalid job id specified", re.IGNORECASE)
DENIED = re.compile(r"permission denied|Access/permission denied|not authorized", re.IGNORECASE)
NO_FILE = re.compile(r"No such file or directory", re.IGNORECASE)
# A Slurm client that failed may still exit 0 (slurm_load_jobs error: Socket timed out…, with
# nothing on stdout): an answer with one of these on stderr says nothing about what exists.
SLURM_ERROR = re.compile(
    r"error|Socket timed out|Unable to contact|Connection refused|timed out|"
    r"Zero Bytes were transmitted|Communication connection failure",
    re.IGNORECASE,
)


def slurm_message(stderr: bytes | str, fallback: str) -> str:
    """Slurm's own words, without the ``sbatch: error:`` prefixes, on one line."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    parts = []
    for line in parse.lines(text):
        line = re.sub(r"^\s*\w+: (error|fatal|warning): ", "", line.strip())
        parts.append(re.sub(r"^\s*\w+: ", "", line))
    return " ".join(parts)[:2000] or fallback
