"""Routes whose plain (sync) endpoints run in one worker thread and give their database
connection back as they return.

FastAPI runs a sync endpoint in a worker thread and then, because the endpoint is sync,
validates its answer in *another* worker thread before ending the request's dependencies
(closing the session). Under load every worker thread can be taken by requests waiting for a
pooled connection while the requests holding the connections wait for a thread to validate
their answer: nothing moves until the pool's timeout (30 s, then 503 for all of them). And
each hop to the thread pool is a wait of its own on a busy machine.

So a sync endpoint is wrapped in a coroutine that runs it in the thread pool once, ending the
session's read-only transaction in that same thread; FastAPI then sees a coroutine and checks
the answer (already a model the endpoint built) on the event loop, without a second hop. A
connection is never held by a request that waits for a thread.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from myriagate.db.session import only_read, release_connection


class ReleasingRoute(APIRoute):
    """An ``APIRoute`` whose sync endpoint releases its sessions' connections on return."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, releasing(endpoint), **kwargs)


def releasing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` as a coroutine running it in the thread pool, then ending the transaction
    of each session it was given, in the same thread.

    Only a session whose transaction merely read is touched (its reads are over; loaded
    objects stay readable, see ``release_connection``). One that wrote without committing,
    or an endpoint that raised, is left to the dependency's exit, which rolls it back as
    before. Coroutines and generators are returned as they are: they run (or stream) on
    FastAPI's terms. FastAPI reads the parameters of ``endpoint`` itself (``functools.wraps``).
    """
    if (
        inspect.iscoroutinefunction(endpoint)
        or inspect.isgeneratorfunction(endpoint)
        or inspect.isasyncgenfunction(endpoint)
    ):
        return endpoint

    def endpoint_then_release(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session) and value.in_transaction() and only_read(value):
                release_connection(value)
        return result

    @functools.wraps(endpoint)
    async def in_the_thread_pool(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint_then_release, *args, **kwargs)

    return in_the_thread_pool
