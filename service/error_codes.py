"""Every error code the service answers with: its HTTP status, its title and what it means.

The one list of codes. ``docs/errors.md`` is generated from it (``loss-service docs``), and
``tests/api/test_error_codes.py`` checks it against the code: every code raised anywhere in
``service/`` is listed here, every code listed here is raised somewhere, and each status agrees
with :data:`service.api.problems.STATUS_BY_CODE`. At run time only the titles are read from it
(the problem body's ``title``, one per code, whatever its status); the statuses are still set
where the errors are raised.

A code may appear twice, once per status it can be answered with (``request_timeout``: 408 while
the body is arriving, 503 while computing). ``status`` ``None`` is the status of the HTTP error
being wrapped. Codes are stable: clients key on them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    status: int | None
    code: str
    title: str | None  # the problem's ``title``; None: the HTTP status text
    meaning: str


ERROR_CODES: tuple[ErrorCode, ...] = (
    # 400
    ErrorCode(400, "invalid_json", "Body is not valid JSON",
              "the body is not JSON: malformed, `NaN`/`Infinity` tokens (some encoders emit them), "
              "or nested more than 1024 deep"),
    ErrorCode(400, "empty_body", "Empty body", "the body is empty; send a JSON object"),
    ErrorCode(400, "invalid_binary_body", "Invalid binary body",
              "an `application/octet-stream` body whose `Inference-Header-Content-Length` is "
              "missing or wrong, or whose tensor sizes do not add up to the bytes after the "
              "header"),
    ErrorCode(400, "invalid_http", "Invalid HTTP request",
              "the HTTP parser refused the request: a malformed request line or header, a bad "
              "or repeated `Content-Length`, `Content-Length` with chunked transfer encoding, "
              "broken chunks; the connection is closed"),
    # 401
    ErrorCode(401, "unauthorized", "API key required",
              "`LOSS_SERVICE_API_KEYS` is set and the request has no valid key "
              "(`Authorization: Bearer <key>` or `X-API-Key: <key>`)"),
    # 404
    ErrorCode(404, "unknown_loss", "Unknown loss",
              "no loss or alias of that name; the body's `suggestions` lists the closest names"),
    ErrorCode(404, "not_found", "No such route", "no such route (see `GET /losses` and `/docs`)"),
    # 405
    ErrorCode(405, "method_not_allowed", "Method not allowed",
              "the route exists, but not for this method"),
    # 408
    ErrorCode(408, "request_timeout", "Request timed out",
              "the body did not arrive within `LOSS_SERVICE_REQUEST_TIMEOUT_S` (30 s), or the "
              "request line and headers within `LOSS_SERVICE_HEADER_TIMEOUT_S` (20 s) of their "
              "first byte; the connection is closed"),
    # 413
    ErrorCode(413, "payload_too_large", "Payload too large",
              "the body is larger than `LOSS_SERVICE_MAX_BODY_BYTES`, refused before it is read "
              "(from its `Content-Length`, or as soon as a streamed body passes it); or one array "
              "needs more memory than the machine has"),
    ErrorCode(413, "too_many_elements", "Too many array elements",
              "more array elements than `LOSS_SERVICE_MAX_ELEMENTS`, all inputs together; checked "
              "against the claimed shapes and the data sent before anything is allocated"),
    # 415
    ErrorCode(415, "unsupported_media_type", "Unsupported media type",
              "a content type other than JSON (or `application/octet-stream` on `/loss` and "
              "`/gradient`)"),
    # 431
    ErrorCode(431, "headers_too_large", "Request headers too large",
              "the request line and headers take more than `LOSS_SERVICE_MAX_HEADER_BYTES` "
              "(64 KiB), or in a chunked body a chunk's size line or the trailer fields do; "
              "refused as soon as that many bytes of them have arrived, and the connection is "
              "closed"),
    # 422: the request's fields
    ErrorCode(422, "unknown_field", "Unknown field",
              "a top-level field the request model does not have"),
    ErrorCode(422, "missing_field", "Missing field",
              "a required field is absent (an empty `/compare` submission included)"),
    ErrorCode(422, "invalid_field", "Invalid field",
              "a field of the wrong type or value (also a query parameter, or a `/compare` "
              "`require` or `weights` key that names no check)"),
    ErrorCode(422, "unknown_param", "Unknown parameter", "a parameter the loss does not have"),
    ErrorCode(422, "invalid_param", "Invalid parameter",
              "a parameter of the wrong type or outside its valid range (an integer parameter "
              "beyond int64 included)"),
    ErrorCode(422, "unsupported_convention", "Unsupported convention",
              "a `convention` the loss does not support, or any, for a loss defined the same way "
              "in every library"),
    ErrorCode(422, "unsupported_reduction", "Unsupported reduction",
              "a reduction the loss does not allow"),
    ErrorCode(422, "unsupported_dtype", "Unsupported dtype",
              "a `dtype` the service does not compute in, or a tensor `dtype` other than "
              "`float64`, `float32`, `int64`, `int32`"),
    ErrorCode(422, "unknown_input", "Unknown input",
              "an input the loss does not have (also a submitted gradient of one)"),
    ErrorCode(422, "missing_input", "Missing input", "a required input was not given"),
    ErrorCode(422, "duplicate_input", "Duplicate input",
              "an input given both at top level and in `inputs`"),
    ErrorCode(422, "not_differentiable", "Loss has no gradient",
              "a gradient was asked of a loss that has none (`/gradient/zero_one`), or `wrt` "
              "names an input without one (integer class targets); the detail lists what "
              "`wrt` may name"),
    ErrorCode(422, "backend_unavailable", "Backend unavailable",
              "a backend (`cupy`) asked for by name cannot be used here; the message says why "
              "(no silent CPU fallback)"),
    # 422: arrays
    ErrorCode(422, "invalid_array", "Invalid array",
              "not a number, a nested list of numbers or a tensor object"),
    ErrorCode(422, "ragged_array", "Ragged array", "nested lists of unequal lengths"),
    ErrorCode(422, "invalid_number", "Number does not fit its dtype",
              "a number that does not keep its value in the dtype it is converted to: an integer "
              "outside the tensor's integer range, beyond int64, or a list NumPy would read as "
              "uint64; refused, never wrapped"),
    ErrorCode(422, "invalid_tensor", "Invalid tensor",
              "a malformed tensor object: unknown field, not exactly one of `data`/`b64`/"
              "`binary_data_size`, a bad `shape`, data or bytes that do not fit its shape and "
              "dtype, a non-integer in an integer tensor"),
    ErrorCode(422, "invalid_base64", "Invalid base64",
              "a tensor's `b64` is not a string of valid base64"),
    ErrorCode(422, "too_deep", "Array nested too deep", "a nested list of more than 32 dimensions"),
    # 422: values
    ErrorCode(422, "shape_mismatch", "Shape mismatch",
              "inputs whose shapes do not agree (never broadcast silently); losses compared side "
              "by side that do not share the batch"),
    ErrorCode(422, "invalid_shape", "Invalid shape",
              "an input with the wrong number of dimensions or size"),
    ErrorCode(422, "empty_batch", "Empty batch", "an input with no elements"),
    ErrorCode(422, "nonfinite_input", "Non-finite input",
              "a finite value that overflows the computation's dtype (\"1e+39, which overflows "
              "float32\") in an input or parameter array, always; NaN or an infinity in an "
              "input array under strict validation (else a warning, below)"),
    ErrorCode(422, "class_index_out_of_range", "Class index out of range",
              "a class index outside `[0, C)` that is not `ignore_index`"),
    ErrorCode(422, "probability_out_of_range", "Probability out of range",
              "a probability outside `[0, 1]`"),
    ErrorCode(422, "probability_rows_not_normalized", "Probability rows not normalized",
              "probability rows that do not sum to 1"),
    ErrorCode(422, "invalid_label", "Invalid label",
              "a label outside the set the loss accepts (e.g. not in {-1, 1})"),
    ErrorCode(422, "invalid_value", "Invalid value",
              "any other value outside the input's domain (a negative variance...)"),
    ErrorCode(422, "invalid_dtype", "Invalid dtype",
              "e.g. floats where class indices (integers) are required"),
    ErrorCode(422, "undefined_mean", "Undefined mean",
              "a `mean` whose denominator is 0 (every target ignored, zero weights) under "
              "strict validation (else a warning, below)"),
    ErrorCode(422, "invalid_input", "Invalid input",
              "the core's generic code for an input it cannot evaluate, when no code above fits "
              "(the default of every core error; no path raises it bare today)"),
    # 422: grading
    ErrorCode(422, "case_too_large", "Case too large",
              "`GET /cases`: the loss's sampler could not draw a batch that large within 5 s"),
    # 500
    ErrorCode(500, "internal_error", "Internal error",
              "a bug: logged with its traceback. Nothing a client sends should yield it"),
    # 503
    ErrorCode(503, "not_ready", "Not ready",
              "`/readyz` during warm-up, or with the reason the warm-up failed"),
    ErrorCode(503, "backend_busy", "Backend busy",
              "the GPU queue (`LOSS_SERVICE_GPU_QUEUE_SIZE`) is full; with `Retry-After`"),
    ErrorCode(503, "request_timeout", "Request timed out",
              "still computing when the time budget (`LOSS_SERVICE_REQUEST_TIMEOUT_S`) ran out; "
              "answered at once, with `Retry-After`"),
    ErrorCode(503, "server_busy", "Server busy",
              "the bodies in flight in this worker fill `LOSS_SERVICE_MAX_INFLIGHT_BYTES`; with "
              "`Retry-After`"),
    ErrorCode(503, "out_of_memory", "Out of memory",
              "an allocation failed (memory is taken by other requests for now); with "
              "`Retry-After`, and the connection stays open"),
    # any other status the framework raises
    ErrorCode(None, "http_error", None,
              "any other HTTP error, with its own status (the Python client also reports a "
              "response that is not problem+json under this code)"),
)


@dataclass(frozen=True)
class WarningCode:
    code: str  # also an error code: the 422 that `"validate": "strict"` answers with instead
    when: str


# The warnings of a 200 /loss or /gradient response (``"warnings": [{"code", "loc", "detail"}]``):
# inputs PyTorch computes on that look like mistakes (validate "lenient", the default). The core
# raises them through service/losses/warn.py; tests/api/test_warnings.py holds the lists equal.
WARNING_CODES: tuple[WarningCode, ...] = (
    WarningCode("invalid_param",
                "a negative class weight or `pos_weight` (`nll`, `cross_entropy`, "
                "`multi_margin`, `binary_cross_entropy`, `binary_cross_entropy_with_logits`, "
                "`multilabel_soft_margin`); torch weighs by it (a mean may then divide by a "
                "negative or zero sum, as torch's does)"),
    WarningCode("probability_out_of_range",
                "targets outside [0, 1] where they are probabilities (`cross_entropy` "
                "probability targets, `binary_cross_entropy_with_logits`, "
                "`multilabel_soft_margin`, `kl_div`; torch's `binary_cross_entropy` refuses "
                "them, and so does the service); "
                "torch's formula is applied to them as given (a negative `kl_div` target "
                "gives NaN, as in torch)"),
    WarningCode("probability_rows_not_normalized",
                "`cross_entropy` probability targets whose rows do not sum to 1; torch "
                "computes `-sum(w t log_softmax(x))` and its gradient as given"),
    WarningCode("invalid_label",
                "labels off {-1, 1} (`soft_margin`, `margin_ranking`, `hinge_embedding`, "
                "`cosine_embedding`); torch's formula applies: `hinge_embedding` costs both "
                "terms, `cosine_embedding` 0"),
    WarningCode("invalid_value",
                "positive log-probabilities (`nll` and `kl_div` predictions, `kl_div` "
                "log-targets), negative `poisson_nll` counts or rates (log_input false); torch "
                "computes on them"),
    WarningCode("nonfinite_input",
                "NaN, `Infinity` or `-Infinity` in a float input array (b64 or binary tensors, "
                "which carry IEEE values; JSON has no such numbers), any loss, at the first "
                "such element of each input; the loss computes on it as torch does (NaN "
                "propagates, so the result can be NaN; torch's `multi_margin` and "
                "`multilabel_margin` skip a NaN term, and an ignored target's loss stays 0). "
                "Where the value is outside the loss's domain as well, the loss's own check "
                "still applies (a NaN label off {-1, 1} adds an `invalid_label` warning; "
                "`binary_cross_entropy` refuses NaN, as torch does). Parameters (`weight`, "
                "`delta`...) stay refused (`invalid_param`)"),
    WarningCode("undefined_mean",
                "a `mean` or `batchmean` whose denominator is 0: every target ignored "
                "(`cross_entropy`, `nll`, `linear_softmax`), class or sample weights summing "
                "to 0, no anchor with a positive (`ntxent`, `circle`); the value is NaN, as "
                "torch's (0 / 0), the per-sample breakdown stays finite, and an ignored "
                "target's gradient is 0, as torch's"),
)

CODES: frozenset[str] = frozenset(e.code for e in ERROR_CODES)
TITLES: dict[str, str] = {e.code: e.title for e in ERROR_CODES if e.title}
