"""FastAPI dependencies as ``Annotated`` aliases: the gateway, its settings, a database session
per request, the use cases the gateway built, and the authenticated caller.

    @router.get("/things")
    def things(user: CurrentUser, db: DbSession) -> ...: ...

Dependencies that do no I/O on the event loop are coroutines: FastAPI would run a plain
function in the thread pool, one more wait per dependency per request on a busy process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from myriagate.ports import Clock
from myriagate.services.people.auth import User
from myriagate.services.submission.submission import Submission
from myriagate.settings import Settings
from myriagate.web import auth
from myriagate.wiring import Gateway


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def get_settings(gateway: GatewayDep) -> Settings:
    return gateway.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One session per request, closed afterwards (an uncommitted change is rolled back).

    The authentication dependencies use the same session (FastAPI caches a dependency per
    request), so the current user is attached to the session the endpoint works with. Making
    a session talks to nobody, nor does closing one whose transaction has ended (the usual
    case: endpoints commit, read-only ones are released); only a rollback goes to the
    thread pool. The gateway is read from the application, not through ``GatewayDep``: every
    dependency FastAPI solves costs time on the event loop, on every request.
    """
    gateway: Gateway = request.app.state.gateway
    session = gateway.session_factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


DbSession = Annotated[Session, Depends(get_db)]


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]


async def get_submission(request: Request) -> Submission:
    """The gateway's submission use case, on the application's clock (tests may swap it)."""
    state = request.app.state
    submission: Submission = state.gateway.submission
    clock: Clock = state.clock
    return submission if submission.clock is clock else replace(submission, clock=clock)


SubmissionDep = Annotated[Submission, Depends(get_submission)]


async def current_identity(request: Request, db: DbSession) -> auth.Identity:
    return await auth.authenticate(request, db, request.app.state.gateway.settings)


async def login_identity(request: Request, db: DbSession) -> auth.Identity:
    """Like ``current_identity``, plus HTTP Basic: only for creating a token or a session."""
    return await auth.authenticate(request, db, request.app.state.gateway.settings, allow_basic=True)


CurrentIdentity = Annotated[auth.Identity, Depends(current_identity)]
LoginIdentity = Annotated[auth.Identity, Depends(login_identity)]


async def current_user(identity: CurrentIdentity) -> User:
    return identity.user


CurrentUser = Annotated[User, Depends(current_user)]
