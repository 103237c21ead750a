"""Whether allocations are enforced: the one switch the submission and the worker carry.

``MYRIAGATE_ENFORCE_ALLOCATIONS`` (``Settings.enforce_allocations``) decides it once, in the
composition root (``myriagate.wiring``). Enforced: a submission holds its worst-case cost on
its project's allocation, and the worker settles finished jobs. Off: nothing is held, settled
or charged, and the ledger is never reached.
"""

from __future__ import annotations

from dataclasses import dataclass

from myriagate.services.allocations.settlement import LedgerFactory


@dataclass(frozen=True)
class Allocations:
    """The allocations switch and the way to reach the ledger inside a session."""

    enforced: bool
    ledger: LedgerFactory

    def hold_ledger(self) -> LedgerFactory | None:
        """The ledger a submission holds on: only when allocations are enforced."""
        return self.ledger if self.enforced else None
