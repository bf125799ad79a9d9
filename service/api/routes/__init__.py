"""Routers, one module per group of routes: losses (``/loss``, ``/gradient``), compare
(``/compare``, ``/cases``), catalog (``/losses``), health (``/healthz``, ``/readyz``,
``/version``), metrics (``/metrics``) and inference_protocol (``/v2``).

A route turns a request into a call (:mod:`service.transport` decodes it) and the result into a
response; where the work runs is :mod:`service.api.offload`'s. Routes may import everything below
the HTTP layer (transport, engine, grading, losses, backends, config) and the rest of
:mod:`service.api`; nothing imports them but :mod:`service.main`.
"""
