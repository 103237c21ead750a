"""``/clusters``: the clusters and partitions of the profiles, and one cluster's live health.

Health comes from the process's shared ``ClusterHealthCache`` (one ping per cluster and cache
period, whatever the request rate), with its age.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from myriagate.profiles.models import ClusterProfile
from myriagate.services.runtime.cluster_health import ClusterHealthCache
from myriagate.web.api.schemas import ClusterDetail, ClusterHealthOut, ClusterOut, PartitionOut
from myriagate.web.api.staging_schemas import StorageEndpointOut
from myriagate.web.deps import CurrentUser, GatewayDep
from myriagate.web.health import cluster_health_of
from myriagate.web.problems import for_callers, problem_responses
from myriagate.web.routing import ReleasingRoute
from myriagate.wiring import Gateway

router = APIRouter(route_class=ReleasingRoute, tags=["clusters"])


def _cluster_out(profile: ClusterProfile, gateway: Gateway) -> ClusterOut:
    default = profile.default_partition
    return ClusterOut(
        name=profile.name,
        display_name=profile.display_name,
        slurm_version=profile.slurm_version,
        is_default=profile.name == gateway.settings.default_cluster,
        backend=profile.connection.backend,
        partitions=[
            PartitionOut(
                name=p.name,
                description=p.description or None,
                description_fr=p.description_fr or None,
                max_walltime=p.max_walltime,
                default_walltime=p.default_walltime,
                max_nodes=p.max_nodes,
                cpus_per_node=p.cpus_per_node,
                mem_per_node_mb=p.mem_per_node_mb,
                gpus_per_node=p.gpus_per_node,
                default=default is not None and p.name == default.name,
            )
            for p in profile.partitions
        ],
    )


def _health(cache: ClusterHealthCache, name: str) -> ClusterHealthOut:
    """What the service login saw lately; a failure is reported here, never as a 5xx."""
    reading = cache.get(name)
    health = reading.health
    return ClusterHealthOut(
        reachable=reading.reachable,
        slurm_version=health.slurm_version,
        partitions=dict(health.partitions),
        latency_ms=health.latency_ms,
        detail=for_callers(reading.detail, reading.problem_title),  # no setting names (issue #15)
        checked_at=reading.checked_at,
        age_s=round(reading.age_s(cache.monotonic()), 1),
    )


@router.get("/clusters", response_model=list[ClusterOut], summary="Clusters and their partitions")
def list_clusters(_user: CurrentUser, gateway: GatewayDep) -> list[ClusterOut]:
    return [_cluster_out(gateway.profiles[name], gateway) for name in sorted(gateway.profiles)]


@router.get(
    "/clusters/{name}",
    response_model=ClusterDetail,
    responses=problem_responses(404),
    summary="One cluster with its live health",
)
def show_cluster(request: Request, name: str, _user: CurrentUser, gateway: GatewayDep) -> ClusterDetail:
    profile = gateway.profile(name)  # NotFound for an unknown name
    health = _health(cluster_health_of(request), profile.name)
    return ClusterDetail(**_cluster_out(profile, gateway).model_dump(), health=health)


@router.get(
    "/clusters/{name}/storage",
    response_model=list[StorageEndpointOut],
    responses=problem_responses(404),
    summary="A cluster's storage endpoints and whether residency allows them",
)
def storage(name: str, _user: CurrentUser, gateway: GatewayDep) -> list[StorageEndpointOut]:
    """Where outputs may be stored (``--store``); ``allowed`` is false outside the allowed regions."""
    allowed = set(gateway.settings.allowed_regions)
    return [
        StorageEndpointOut(
            name=s.name, site=s.site, region=s.region, operator=s.operator, allowed=s.region in allowed
        )
        for s in gateway.profile(name).storage
    ]
