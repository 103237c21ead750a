"""The small "Mini" cluster profile the profile tests parse, as TOML text built from parts.

One builder, so the header and the richly described partitions are written once; each test
file picks the partitions it needs and edits the text with ``str.replace`` to make it wrong.
"""

from __future__ import annotations

MINI_HEADER = """
schema = 1
name = "mini"
display_name = "Mini"
slurm_version = "22.05"
timezone = "Europe/Paris"

[connection]
runner = "local"
service_login = "myriagate"
"""

MINI_LICENSES = """
[slurm]
licenses = { matlab = 4, "ansys@flexlm" = 2 }
"""


def shaped_cpu_partition(name: str, *, default_walltime: str | None = None) -> str:
    """The default partition with every optional field: features, QOS, nodes, shape, scratch."""
    walltime = f'default_walltime = "{default_walltime}"\n' if default_walltime else ""
    return f"""
[[partitions]]
name = "{name}"
max_walltime = "04:00:00"
{walltime}max_nodes = 4
cpus_per_node = 28
mem_per_node_mb = 128000
default = true
features = ["broadwell", "ib", "avx2"]
qos = ["normal", "short"]
nodes = "node[001-004]"
sockets_per_node = 2
cores_per_socket = 14
threads_per_core = 1
tmp_per_node_mb = 10000
"""


def gpu_partition(*, nodes: str | None = None) -> str:
    """Partition 'gpu': 4 GPUs per node of two types (a full A100 and a MIG slice)."""
    node_line = f'nodes = "{nodes}"\n' if nodes else ""
    return f"""
[[partitions]]
name = "gpu"
max_walltime = "48:00:00"
max_nodes = 2
cpus_per_node = 64
mem_per_node_mb = 512000
gpus_per_node = 4
gpu_types = ["a100", "a100_1g.10gb"]
{node_line}"""
