"""Prometheus metrics: their definitions (``metrics``), the collector that reads the database
at scrape time (``database``) and how a process exposes them (``exposition``).

Every metric and label is listed in docs/metrics.md.
"""
