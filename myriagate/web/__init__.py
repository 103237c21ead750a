"""The web application: ``create_app()`` (``app``), the REST API under ``/api/v1`` (``api``),
the server-rendered pages (``pages``), authentication, request budgets, ``/readyz``,
``/metrics`` and the one error path rendering problem+json or HTML by route kind."""
