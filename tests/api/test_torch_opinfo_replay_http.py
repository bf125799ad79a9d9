"""PyTorch's loss OpInfo samples replayed over HTTP (issue 19, item 2): a subset of what
tests/losses/test_torch_opinfo_replay.py replays through the core, sent as JSON to
``/gradient/{loss}`` with the server's default (lenient) validation, compared with torch. The
subset is the first samples of each OpInfo and every sample holding NaN or an infinity, whose
arrays travel as b64 (JSON has no such numbers) and whose answer warns ``nonfinite_input``."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from service.losses import evaluate

from ..losses.opinfo_replay import loss_opinfos, samples, to_service, torch_result, wire
from ..losses.test_torch_opinfo_replay import RTOL, _per_sample

pytestmark = [pytest.mark.anyio, pytest.mark.torch]

PER_OPINFO = 4  # samples of seed 0 sent per OpInfo (the core replay covers them all)


@functools.cache
def _http_cases(name: str) -> tuple[Any, ...]:
    """The calls sent for the OpInfo ``name`` (computed when a test first needs them, not at
    collection: every pytest-xdist worker collects every module)."""
    opinfo = next(o for o in OPINFOS if o.name == name)
    op = opinfo.name.removeprefix("nn.functional.")
    cases, taken = [], 0
    for sample in samples(opinfo, 0, "reference"):
        try:
            call = to_service(op, sample)
            torch_result(call)
            evaluate(call.loss, call.inputs, call.params, reduction=call.reduction,
                     validate="lenient", wrt=call.wrt)
        except Exception:
            continue  # not expressible, or refused by torch (the core replay covers them)
        if taken < PER_OPINFO or _nonfinite(call.inputs):
            cases.append(call)
            taken += 1
    return tuple(cases)


def _nonfinite(inputs: dict[str, np.ndarray]) -> bool:
    return any(v.dtype.kind == "f" and not np.all(np.isfinite(v)) for v in inputs.values())


# the plain OpInfos (a variant replays the same function with other samples)
OPINFOS = [o for o in loss_opinfos() if not o.variant_test_name]


def _array(v: Any) -> np.ndarray:
    return np.array(v, dtype=np.float64)  # "NaN" / "Infinity" strings included


@pytest.mark.parametrize("name", [o.name for o in OPINFOS])
async def test_http_answers_torch_numbers(client: Any, name: str) -> None:
    for call in _http_cases(name):
        value, grads = torch_result(call)
        body = {"inputs": {k: wire(v) for k, v in call.inputs.items()}, "params": call.params,
                "reduction": call.reduction}
        if call.wrt is not None:  # gradients beyond the default ones (targets...: issue 19)
            body["wrt"] = call.wrt
        r = await client.post(f"/gradient/{call.loss}", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        np.testing.assert_allclose(_array(out["value"]), value, rtol=RTOL, atol=1e-10)
        if call.reduction == "none":
            np.testing.assert_allclose(_array(out["per_sample"]), _per_sample(value),
                                       rtol=RTOL, atol=1e-10)
        for g_name, g in grads.items():
            np.testing.assert_allclose(_array(out["gradients"][g_name]), g, rtol=RTOL,
                                       atol=1e-10)
        if _nonfinite(call.inputs):
            assert "nonfinite_input" in [w["code"] for w in out["warnings"]]


async def test_every_opinfo_loss_is_sent() -> None:
    cases = {o.name.removeprefix("nn.functional."): _http_cases(o.name) for o in OPINFOS}
    assert len([op for op, calls in cases.items() if calls]) >= 20
    nonfinite = {op for op, calls in cases.items() if any(_nonfinite(c.inputs) for c in calls)}
    assert {"hinge_embedding_loss", "margin_ranking_loss"} <= nonfinite, nonfinite
