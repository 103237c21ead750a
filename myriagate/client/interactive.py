"""Interactive sessions through the gateway (issue #18, docs/interactive.md): start an app
(JupyterLab) as a job, follow it until it runs, list and stop sessions.

``wait_session`` polls the session until it is ``running`` (its URL then works in a browser
signed in to the gateway) or ``ended`` (the job ended first: its output says why).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from uuid import UUID

from myriagate.client.transport import Transport

if TYPE_CHECKING:
    from myriagate.web.api.interactive_schemas import SessionOut

SETTLED = ("running", "ended")


class InteractiveCalls(Transport):
    """The interactive-session calls of ``Client`` (mixed into it)."""

    def start_session(
        self,
        app: str,
        *,
        options: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        cluster: str | None = None,
    ) -> SessionOut:
        """Submit ``app``'s job; the session comes back ``queued``."""
        from myriagate.web.api.interactive_schemas import SessionOut

        body = {"app": app, "cluster": cluster, "options": dict(options or {}), "params": dict(params or {})}
        return self._model(SessionOut, self.request("POST", "/interactive/sessions", json=body))

    def sessions(self) -> list[SessionOut]:
        from myriagate.web.api.interactive_schemas import SessionOut

        return self._list(SessionOut, self.request("GET", "/interactive/sessions"))

    def session(self, session: UUID | str) -> SessionOut:
        from myriagate.web.api.interactive_schemas import SessionOut

        response = self.request("GET", f"/interactive/sessions/{quote(str(session), safe='')}")
        return self._model(SessionOut, response)

    def stop_session(self, session: UUID | str) -> SessionOut:
        from myriagate.web.api.interactive_schemas import SessionOut

        response = self.request("DELETE", f"/interactive/sessions/{quote(str(session), safe='')}")
        return self._model(SessionOut, response)

    def wait_session(
        self,
        session: UUID | str,
        *,
        timeout_s: float | None = None,
        poll_s: float = 1.0,
        on_change: Callable[[SessionOut], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> SessionOut:
        """The session once running or ended; ``TimeoutError`` after ``timeout_s``.
        ``on_change`` hears each new state (a progress display)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last = None
        while True:
            current = self.session(session)
            if on_change is not None and (current.state, current.reason) != last:
                on_change(current)
                last = (current.state, current.reason)
            if current.state in SETTLED:
                return current
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"session {session} still {current.state} after {timeout_s} s")
            sleep(poll_s)
