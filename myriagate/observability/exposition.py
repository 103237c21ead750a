"""How a process exposes its metrics: one registry per scrape endpoint, single- or multi-process.

- Without ``PROMETHEUS_MULTIPROC_DIR``: the process's own metrics (prometheus_client's default
  registry, with its process and Python collectors).
- With it (several uvicorn workers behind one port): the sum over every process writing to
  that directory, read from its files at scrape time (``MultiProcessCollector``). The variable
  must be set before the processes start, and the directory emptied at each service start.

Extra collectors (the database gauges on the API) are added per endpoint, never to the global
registry, so two apps in one process (tests) never collide.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

import myriagate.observability.metrics  # noqa: F401  (defines and registers the metrics)
from myriagate.errors import ConfigError


def multiprocess_dir() -> str | None:
    """The shared directory of multiprocess mode, or None (prometheus_client's own variable)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _ProcessMetrics(Collector):
    """The default registry as one collector (described as nothing: it is never a duplicate)."""

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def build_registry(*extra: Collector) -> CollectorRegistry:
    """A registry for one scrape endpoint: this process's metrics (or every process's, in
    multiprocess mode) plus ``extra`` collectors."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path is not None:
        if not os.path.isdir(path):
            raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR={path!r} is not a directory")
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]  # untyped upstream
    else:
        registry.register(_ProcessMetrics())
    for collector in extra:
        registry.register(collector)
    return registry


def render(registry: CollectorRegistry, accept: str = "") -> tuple[bytes, str]:
    """Everything ``registry`` collects now and its content type, in the format the scraper
    asks for in ``accept`` (OpenMetrics for Prometheus, else the classic text format 0.0.4)."""
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> tuple[WSGIServer, threading.Thread]:
    """Serve this process's metrics on ``addr:port`` from a daemon thread (the worker's port).

    Loopback by default: the endpoint has no authentication, so exposing it further is a
    deliberate choice (``--metrics-addr``) behind a firewall.
    """
    try:
        return start_http_server(port, addr=addr, registry=build_registry())
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}") from exc
