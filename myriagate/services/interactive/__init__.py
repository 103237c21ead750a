"""Interactive sessions: an app (JupyterLab) as a job, reached through the gateway (issue #18)."""
