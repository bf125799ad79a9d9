"""Metrics (Prometheus, multiprocess-safe), structured logs and the per-request middleware.

:mod:`.metrics` and :mod:`.logging` import nothing of the service; :mod:`.middleware` imports the
problem body of :mod:`service.api.problems` (its own errors take the API's shape). The routes
and :mod:`service.main` import them.
"""
