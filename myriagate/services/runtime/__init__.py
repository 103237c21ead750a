"""The worker runtime and what runs beside the web process: the polling loop of each cluster,
the threads and leases of ``myriagate worker``, the cached cluster health (pages, API,
``/readyz``) and the gauges ``/metrics`` reads from the database."""
