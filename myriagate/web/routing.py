"""Routes whose plain (sync) endpoints give their database connection back as they return.

FastAPI runs a sync endpoint in a worker thread, then validates its answer in *another* worker
thread, and only after that ends the request's dependencies (closing the session). Under load
every worker thread can be taken by requests waiting for a pooled connection while the
requests holding the connections wait for a thread to validate their answer: nothing moves
until the pool's timeout (30 s, then 503 for all of them). Ending the session's transaction in
the endpoint's own thread breaks that cycle: a connection is never held by a request that
waits for a thread.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from myriagate.db.session import only_read, release_connection


class ReleasingRoute(APIRoute):
    """An ``APIRoute`` whose sync endpoint releases its sessions' connections on return."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, releasing(endpoint), **kwargs)


def releasing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint``, ending the transaction of each session it was given once it returns.

    Only a session whose transaction merely read is touched (its reads are over; loaded
    objects stay readable, see ``release_connection``). One that wrote without committing,
    or an endpoint that raised, is left to the dependency's exit, which rolls it back as
    before. Coroutines and
    generators are returned as they are: they run (or stream) on FastAPI's terms.
    """
    if (
        inspect.iscoroutinefunction(endpoint)
        or inspect.isgeneratorfunction(endpoint)
        or inspect.isasyncgenfunction(endpoint)
    ):
        return endpoint

    @functools.wraps(endpoint)
    def endpoint_then_release(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session) and value.in_transaction() and only_read(value):
                release_connection(value)
        return result

    return endpoint_then_release
