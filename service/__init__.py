"""loss-service: a REST microservice that evaluates machine-learning loss functions.

What lives where (each package's docstring says more, and what it may import):

* :mod:`service.losses`: the core; pure array-API loss functions with analytic gradients, the
  registry, one evaluation entry point (:func:`service.losses.evaluate`) and, in
  :mod:`service.losses.accel`, at most one accelerated kernel per loss. Imports nothing of the
  rest of the service but :mod:`service.casting` and :mod:`service.deadline`; no HTTP.
* :mod:`service.backends`: where arrays live (NumPy; CuPy in a device worker).
* :mod:`service.engine`: a loss evaluated on a backend, the one call every caller makes.
* :mod:`service.transport`: request bodies in (JSON, b64, binary; the one decoder) and results out.
* :mod:`service.grading` and :mod:`service.autograder`: ``/compare``, the offline grader and
  students' code on Gradescope / PrairieLearn.
* :mod:`service.api`: the HTTP layer (thin routes, schemas, problem responses) over all of the
  above; :mod:`service.observability`: metrics, logs, the per-request middleware;
  :mod:`service.config`: the one settings object; :mod:`service.main`: ``create_app``.
* :mod:`service.client` (with ``client_*``): the Python client; :mod:`service.cli`: the commands.

A request's walk, ``POST /gradient/cross_entropy`` (README's example), one implementation per
step, twelve files: :mod:`service.main` (the app) -> :mod:`service.api.routes.losses` (the route)
-> :mod:`service.api.offload` (event loop or worker thread) -> :mod:`service.transport.request`
(body received, parsed, decoded) -> :mod:`service.transport.json_in` (JSON parsed) ->
:mod:`service.transport.arrays` (each array's rules) -> :mod:`service.engine` (the backend) ->
:mod:`service.losses.evaluate` (inputs, parameters, gradients) -> :mod:`service.losses.accel`
(a kernel, for large inputs of the nine losses in its table) -> :mod:`service.losses.multiclass`
(the reference) -> :mod:`service.losses.reduce` (reduction and per-sample breakdown) ->
:mod:`service.transport.json_out` (the response). Checks and math helpers (``casting``,
``losses._checks``, ``losses._classes``, ``losses._math``, ``losses.params``) are called on the
way; the middleware (:mod:`service.observability.middleware`) wraps it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loss-service")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
