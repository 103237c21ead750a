"""Cluster files (issue #17): a researcher's areas on a cluster, listed, looked at and
downloaded as their own login, through the ``ClusterFiles`` port (docs/files.md)."""
