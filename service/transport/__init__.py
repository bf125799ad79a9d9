"""Bodies in and out: receiving, parsing, decoding request arrays, encoding results.

What lives here, in the order a request meets it:

* :mod:`.request` reads a body (content type, size limit, the byte budget of :mod:`.inflight`)
  and parses it: JSON (:mod:`.json_in`, large arrays read in place by :mod:`.json_arrays`) or
  the binary tensor format (:mod:`.binary`); then the one decoder: validation by the route's
  model, one element budget, and every array read by :mod:`.arrays`, where each rule of an
  array (dtype, shape, element limit, booleans, values kept through
  :func:`service.casting.cast`) is written once;
* :mod:`.json_out` encodes results (nested lists, b64, binary) into parts and sends them.

It may import NumPy, orjson, pybase64, pydantic and Starlette; of the service,
:mod:`service.casting`, :mod:`service.deadline`, :mod:`service.tuning` (the collector pause),
:mod:`service.losses` (the registry's names) and :mod:`service.api.problems` (the problem type
its errors take); never the routes, the engine or the grader. :mod:`.arrays`, :mod:`.binary`
and :mod:`.json_out` import nothing else of the service but :mod:`service.casting`: the Python
client uses them.
"""
