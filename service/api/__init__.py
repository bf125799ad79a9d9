"""The HTTP layer: thin routes over the engine and the grader, schemas, problem+json errors.

``routes/`` holds one module per group of routes; each turns a request into a call and a result
into a response. :mod:`.compare_body` computes a decoded ``/compare``
body; :mod:`.offload` runs work on the event loop or in a
worker thread within the time budget; :mod:`.schemas` and :mod:`.compare_schemas` are the
request and response models (generated from the registry); :mod:`.problems` and
:mod:`.errors` give every error one shape.

It may import everything below it: :mod:`service.transport`, :mod:`service.engine`,
:mod:`service.grading`, :mod:`service.losses`, :mod:`service.backends`, :mod:`service.config`.
Nothing below it imports it, except the problem type (:mod:`.problems`), which
:mod:`service.transport` raises.
"""
