"""The real clock (ports.Clock): aware UTC now. Tests pass a fake one."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
