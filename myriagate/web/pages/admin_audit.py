"""The audit log (platform admins) and the cluster's health and queue depth (every signed-in
user, as ``GET /api/v1/clusters/{name}``: the same cached health, with its age)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from myriagate.errors import Text
from myriagate.services import dashboard
from myriagate.services.people import directory as admin_views
from myriagate.web.deps import DbSession, GatewayDep
from myriagate.web.health import cluster_health_of
from myriagate.web.pages.deps import PageUser, require_roles
from myriagate.web.pages.rendering import render
from myriagate.web.routing import ReleasingRoute

router = APIRouter(route_class=ReleasingRoute, include_in_schema=False)
AUDIT_PAGE = 50


@router.get("/admin/audit")
def audit_page(
    request: Request, page: PageUser, db: DbSession, action: str = "", offset: int = 0
) -> Response:
    require_roles(page, "platform_admin")
    result = admin_views.audit_log(db, page.user, action=action[:64] or None, limit=AUDIT_PAGE, offset=offset)
    return render(request, "audit.html", lines=result.items, has_more=result.has_more, action=action[:64],
                  offset=max(0, offset), page_size=AUDIT_PAGE)  # fmt: skip


@router.get("/cluster")
def cluster_page(request: Request, page: PageUser, db: DbSession, gateway: GatewayDep) -> Response:
    cache = cluster_health_of(request)
    clusters = []
    for name in sorted(gateway.profiles):
        reading = cache.get(name)  # a failure is shown on the page, never a 5xx
        age_s = round(reading.age_s(cache.monotonic()))
        # Researchers read that the cluster cannot be reached right now, in plain words: what
        # went wrong (a configuration error, a host key) is for platform admins, who read the
        # error's title and its detail, which may name hosts, key files or settings (issue #15).
        admin = page.has("platform_admin")
        title = Text(reading.problem_title) if reading.problem_title else reading.problem
        detail = reading.problem if admin and reading.problem_title else None
        clusters.append({"profile": gateway.profiles[name], "health": reading.health, "admin": admin,
                         "problem": title, "problem_detail": detail, "age_s": age_s})  # fmt: skip
    return render(request, "cluster.html", clusters=clusters, depth=dashboard.queue_depth(db))
