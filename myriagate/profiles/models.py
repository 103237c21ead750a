"""Frozen models of a cluster profile (``cluster_profiles/<name>.toml``, ``schema = 1``).

Every model forbids unknown keys, so a typo in a profile fails at load time with the file,
the key path and the valid names (see ``profiles.loader``). Billing weights are ``Decimal``:
they feed money-like cost calculations, where binary floats would drift.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from myriagate.domain import hostlists, values
from myriagate.domain.billing import BillingRule, Weights, parse_weights
from myriagate.domain.walltime import parse_walltime
from myriagate.errors import MyriagateError
from myriagate.profiles import names
from myriagate.profiles.file_areas import FilesSection
from myriagate.profiles.interactive import InteractiveSection
from myriagate.profiles.rest import RestConnection

SCHEMA_VERSION = 1
_REGION = re.compile(r"^[A-Z]{2}-[A-Z0-9]{1,3}\Z")
_SLURM_VERSION = re.compile(r"^\d+\.\d+(?:\.\d+)?\Z")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _decimal(value: object) -> Decimal:
    """An exact weight from an int or a decimal string; floats are refused on purpose."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        raise ValueError(f'write {value!r} as a string ("{value!r}") so it stays exact')
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} is not a decimal number") from exc
        if not result.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return result
    raise ValueError('expected an integer or a decimal string such as "0.25"')


Weight = Annotated[Decimal, BeforeValidator(_decimal), Field(ge=0)]


def _walltime(value: str) -> str:
    try:
        parse_walltime(value)
    except MyriagateError as exc:
        raise ValueError(exc.detail) from exc
    return value


def _via(check: object, value: str) -> str:
    """Run a ``domain.values`` validator, turning our error into pydantic's ValueError."""
    try:
        check(value)  # type: ignore[operator]
    except MyriagateError as exc:
        raise ValueError(exc.detail) from exc
    return value


class BillingWeights(_Frozen):
    """The partition's Slurm ``TRESBillingWeights``: per CPU, per GB of memory, per node, per
    GPU (``GRES/gpu``) and per GPU of a type (``gpu_types = { a100 = "8" }`` for
    ``GRES/gpu:a100=8``). In a profile, either this table (a weight left out is the default
    here: CPU 1, the rest 0) or Slurm's own string, copied from slurm.conf
    (``billing_weights = "CPU=1.0,Mem=0.25G,GRES/gpu=4.0"``: a TRES left out weighs 0)."""

    cpu: Weight = Decimal(1)
    mem_per_gb: Weight = Decimal(0)
    node: Weight = Decimal(0)
    gpu: Weight = Decimal(0)
    gpu_types: dict[str, Weight] = Field(default_factory=dict)

    @field_validator("gpu_types")
    @classmethod
    def _gpu_types(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        names.gpu_types(tuple(value))
        return value

    def __hash__(self) -> int:
        # Profiles stay hashable (frozen models hash their fields; a dict does not hash).
        return hash(self.as_weights())

    def as_weights(self) -> Weights:
        """The domain's exact ``Weights`` (``domain.billing``)."""
        return Weights(
            cpu=self.cpu,
            mem_per_gb=self.mem_per_gb,
            node=self.node,
            gpu=self.gpu,
            gpu_types=tuple(sorted(self.gpu_types.items())),
        )


def _billing_weights(value: object) -> object:
    """Slurm's ``TRESBillingWeights`` string as the table; anything else passes unchanged."""
    if not isinstance(value, str):
        return value
    try:
        w = parse_weights(value)
    except MyriagateError as exc:
        raise ValueError(exc.detail) from exc
    return {
        "cpu": w.cpu,
        "mem_per_gb": w.mem_per_gb,
        "node": w.node,
        "gpu": w.gpu,
        "gpu_types": dict(w.gpu_types),
    }


class Partition(_Frozen):
    name: str
    description: str = ""
    description_fr: str = ""  # French pages show it when set, else ``description``
    max_walltime: str
    default_walltime: str | None = None
    max_nodes: int = Field(ge=1)
    cpus_per_node: int = Field(ge=1)
    mem_per_node_mb: int = Field(ge=1)
    gpus_per_node: int = Field(default=0, ge=0)
    gpu_type: str | None = None
    # Every GRES type of the partition's GPUs (Austral: a100, h200, MIG slices a100_1g.10gb…);
    # an untyped gpu:N is always accepted. Use this or gpu_type, not both.
    gpu_types: tuple[str, ...] = ()
    billing_weights: Annotated[BillingWeights, BeforeValidator(_billing_weights)] = BillingWeights()
    # Slurm's DefMemPerCPU for this partition (else [slurm] def_mem_per_cpu_mb): the memory of
    # a job that asks for none (an --exclusive job: per CPU of its nodes), for its hold.
    # Unset in both: a CPU's share of the node's memory.
    def_mem_per_cpu_mb: int | None = Field(default=None, ge=1)
    default: bool = False
    # Node features --constraint may name (Slurm Features=); empty: --constraint not offered.
    features: tuple[str, ...] = ()
    # QOS --qos may name on this partition; empty: --qos is not offered there.
    qos: tuple[str, ...] = ()
    # The partition's nodes as a Slurm hostlist (node[001-004]), for --nodelist / --exclude.
    nodes: str | None = None
    # Node shape, for --ntasks-per-socket, --threads-per-core, --hint: all three or none,
    # multiplying to cpus_per_node.
    sockets_per_node: int | None = Field(default=None, ge=1)
    cores_per_socket: int | None = Field(default=None, ge=1)
    threads_per_core: int | None = Field(default=None, ge=1)
    # Local scratch of one node in MB (Slurm TmpDisk), for --tmp.
    tmp_per_node_mb: int | None = Field(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _via(values.partition, value)

    @field_validator("gpu_type")
    @classmethod
    def _gpu_type(cls, value: str | None) -> str | None:
        return None if value is None else names.gpu_types((value,))[0]

    @field_validator("gpu_types")
    @classmethod
    def _gpu_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return names.gpu_types(value)

    @field_validator("features")
    @classmethod
    def _features(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return names.features(value)

    @field_validator("qos")
    @classmethod
    def _qos(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return names.qos(value)

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, value: str | None) -> str | None:
        return None if value is None else _via(lambda v: hostlists.check(v, "nodes"), value)

    @field_validator("max_walltime", "default_walltime")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        return None if value is None else _walltime(value)

    @model_validator(mode="after")
    def _consistent(self) -> Partition:
        if self.default_walltime is not None and self.default_walltime_s > self.max_walltime_s:
            raise ValueError(
                f"default_walltime {self.default_walltime} is longer than max_walltime {self.max_walltime}"
            )
        if (self.gpu_type is not None or self.gpu_types) and self.gpus_per_node == 0:
            raise ValueError("a GPU type is set but gpus_per_node is 0")
        if self.gpu_type is not None and self.gpu_types:
            raise ValueError("set gpu_types (every type) or gpu_type (one type), not both")
        self._check_shape()
        return self

    def _check_shape(self) -> None:
        shape = (self.sockets_per_node, self.cores_per_socket, self.threads_per_core)
        given = [v for v in shape if v is not None]
        if not given:
            return
        if len(given) != 3:
            raise ValueError("give sockets_per_node, cores_per_socket and threads_per_core together")
        sockets, cores, threads = given
        if sockets * cores * threads != self.cpus_per_node:
            raise ValueError(
                f"sockets_per_node × cores_per_socket × threads_per_core = {sockets} × {cores} × "
                f"{threads} = {sockets * cores * threads}, not cpus_per_node {self.cpus_per_node}"
            )

    @property
    def offered_gpu_types(self) -> tuple[str, ...]:
        """Every GPU type a job may name here (``gpu_types``, or ``gpu_type`` alone); empty when
        the partition does not say (then any type is accepted)."""
        if self.gpu_types:
            return self.gpu_types
        return (self.gpu_type,) if self.gpu_type is not None else ()

    @property
    def node_names(self) -> tuple[str, ...]:
        """The partition's nodes, expanded from ``nodes`` (empty when the profile does not say)."""
        return hostlists.expand(self.nodes, "nodes") if self.nodes is not None else ()

    @property
    def max_walltime_s(self) -> int:
        return parse_walltime(self.max_walltime)

    @property
    def default_walltime_s(self) -> int:
        """The partition's DefaultTime, or its maximum when it has none (as Slurm does)."""
        return parse_walltime(self.default_walltime or self.max_walltime)


class Connection(_Frozen):
    backend: Literal["cli", "pyslurm", "rest"] = "cli"
    runner: Literal["ssh", "local"] = "ssh"
    host: str | None = None
    port: int = Field(default=22, ge=1, le=65535)
    known_hosts: Path | None = None
    service_login: str
    # A Slurm operator login (sacctmgr rights) for `admin slurm-sync` and `admin reconcile`.
    operator_login: str | None = None
    connect_timeout_s: float = Field(default=10.0, gt=0)
    command_timeout_s: float = Field(default=60.0, gt=0)
    # PATH of every cluster command: Slurm commands run with this and HOME, USER, LOGNAME,
    # LANG only, never with what the login's start-up files or the gateway export (docs/job-scripts.md).
    command_path: str = "/usr/local/bin:/usr/bin:/bin"
    rest: RestConnection | None = None  # [connection.rest], with backend = "rest"

    @field_validator("command_path")
    @classmethod
    def _command_path(cls, value: str) -> str:
        return _via(values.search_path, value)

    @field_validator("service_login", "operator_login")
    @classmethod
    def _login(cls, value: str | None) -> str | None:
        return None if value is None else _via(values.login, value)

    @model_validator(mode="after")
    def _ssh_needs_pinned_host(self) -> Connection:
        # Host keys are always pinned: an ssh runner without known_hosts would have to trust
        # whatever answers, which we never do.
        if (self.backend == "rest") != (self.rest is not None):
            raise ValueError('backend = "rest" and a [connection.rest] table go together')
        no_runner = self.rest is not None and self.rest.files == "none"
        if self.runner == "ssh" and not no_runner and (not self.host or self.known_hosts is None):
            raise ValueError('runner = "ssh" needs both host and known_hosts')
        return self


class SlurmSection(_Frozen):
    default_partition: str | None = None
    accounts_prefix: str | None = None
    # How the billing TRES adds up the weighted resources: Slurm's PriorityFlags MAX_TRES
    # ("max_tres"), MAX_TRES_GRES ("max_tres_gres", Slurm 25.05+), or neither ("sum").
    billing_rule: BillingRule = BillingRule.SUM
    # slurm.conf's DefMemPerCPU (a partition's own def_mem_per_cpu_mb wins): see Partition.
    def_mem_per_cpu_mb: int | None = Field(default=None, ge=1)
    # Cluster-wide licenses (Slurm Licenses=matlab:4) --licenses may name, with their counts.
    licenses: dict[str, int] = {}

    @field_validator("licenses")
    @classmethod
    def _licenses(cls, value: dict[str, int]) -> dict[str, int]:
        names.licenses(tuple(value))
        for name, count in value.items():
            if count < 1:
                raise ValueError(f"license {name!r} must have a count of at least 1, not {count}")
        return value

    def __hash__(self) -> int:
        # Profiles stay hashable (frozen models hash their fields; a dict does not hash).
        return hash((self.default_partition, self.accounts_prefix, tuple(sorted(self.licenses.items()))))


class Storage(_Frozen):
    """A storage endpoint data may be staged to: an SFTP/SSH host, where it is, who runs it."""

    name: str
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    # Absolute directory under which the gateway writes datasets (<root>/<account>/<dataset id>).
    root: str
    # The endpoint's login the gateway writes as (signed with the gateway's SSH user CA).
    login: str
    known_hosts: Path
    operator: str
    site: str
    region: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _via(values.partition, value)

    @field_validator("login")
    @classmethod
    def _login(cls, value: str) -> str:
        return _via(values.login, value)

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        if not value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"{value!r} must be an absolute path without '..'")
        return value.rstrip("/") or "/"

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"{value!r} is not an ISO 3166-2 region code such as FR-NOR")
        return value


class ClusterProfile(_Frozen):
    """One cluster: how to reach it, its partitions and limits, its storage endpoints."""

    schema_version: int = Field(alias="schema")
    name: str
    display_name: str
    slurm_version: str
    timezone: str
    # Where the cluster is: staging inputs onto it is a transfer like any other, checked
    # against MYRIAGATE_ALLOWED_REGIONS. A cluster that declares no region gets no data.
    site: str | None = None
    region: str | None = None
    connection: Connection
    slurm: SlurmSection = SlurmSection()
    partitions: tuple[Partition, ...] = Field(min_length=1)
    storage: tuple[Storage, ...] = ()
    files: FilesSection = FilesSection()  # [[files.areas]]: what the file browser shows
    interactive: InteractiveSection = InteractiveSection()  # idle timeouts of interactive sessions

    @field_validator("schema_version")
    @classmethod
    def _schema(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"unknown schema version {value}; this gateway reads schema = {SCHEMA_VERSION}")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _via(values.partition, value)

    @field_validator("slurm_version")
    @classmethod
    def _slurm_version(cls, value: str) -> str:
        if not _SLURM_VERSION.match(value):
            raise ValueError(f'{value!r} is not a Slurm release such as "22.05"')
        return value

    @field_validator("region")
    @classmethod
    def _cluster_region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.match(value):
            raise ValueError(f"{value!r} is not an ISO 3166-2 region code such as FR-NOR")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f'{value!r} is not an IANA time zone such as "Europe/Paris"') from exc
        return value

    @model_validator(mode="after")
    def _partitions_consistent(self) -> ClusterProfile:
        names = [p.name for p in self.partitions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"partition names must be unique: {', '.join(duplicates)}")
        flagged = [p.name for p in self.partitions if p.default]
        if len(flagged) > 1:
            raise ValueError(f"only one partition may have default = true, not {', '.join(flagged)}")
        wanted = self.slurm.default_partition
        if wanted is not None:
            if wanted not in names:
                raise ValueError(
                    f"slurm.default_partition {wanted!r} is not a partition; valid: {', '.join(names)}"
                )
            if flagged and flagged[0] != wanted:
                raise ValueError(
                    f"slurm.default_partition is {wanted!r} but partition {flagged[0]!r} has default = true"
                )
        storage_names = [s.name for s in self.storage]
        if len(set(storage_names)) != len(storage_names):
            raise ValueError("storage names must be unique")
        return self

    @property
    def default_partition(self) -> Partition | None:
        """The partition used when a job names none (slurm.default_partition or default = true)."""
        wanted = self.slurm.default_partition
        for p in self.partitions:
            if p.name == wanted or (wanted is None and p.default):
                return p
        return None

    @property
    def licenses(self) -> dict[str, int]:
        """The cluster's licenses (``[slurm] licenses``) and their counts."""
        return dict(self.slurm.licenses)

    @property
    def partition_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.partitions)

    def partition(self, name: str) -> Partition | None:
        return next((p for p in self.partitions if p.name == name), None)

    def storage_endpoint(self, name: str) -> Storage | None:
        return next((s for s in self.storage if s.name == name), None)
