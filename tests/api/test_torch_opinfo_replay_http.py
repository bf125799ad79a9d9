"""PyTorch's loss OpInfo samples replayed over HTTP (issue 19, item 2): a subset of what
tests/losses/test_torch_opinfo_replay.py replays through the core, sent as JSON to
``/gradient/{loss}`` with the server's default (lenient) validation, compared with torch. The
subset is the first samples of each OpInfo and every sample holding NaN or an infinity, whose
arrays travel as b64 (JSON has no such numbers) and whose answer warns ``nonfinite_input``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.losses import evaluate

from ..losses.opinfo_replay import loss_opinfos, samples, to_service, torch_result, wire
from ..losses.test_torch_opinfo_replay import RTOL, _per_sample

pytestmark = [pytest.mark.anyio, pytest.mark.torch]

PER_OPINFO = 4  # samples of seed 0 sent per OpInfo (the core replay covers them all)


def _http_cases() -> list[tuple[str, Any]]:
    cases = []
    for opinfo in loss_opinfos():
        op = opinfo.name.removeprefix("nn.functional.")
        if opinfo.variant_test_name:  # the same function as the plain OpInfo
            continue
        taken = 0
        for sample in samples(opinfo, 0, "reference"):
            try:
                call = to_service(op, sample)
                torch_result(call)
                evaluate(call.loss, call.inputs, call.params, reduction=call.reduction,
                         validate="lenient", wrt=call.wrt)
            except Exception:
                continue  # not expressible, or refused by torch (the core replay covers them)
            if taken < PER_OPINFO or _nonfinite(call.inputs):
                cases.append((op, call))
                taken += 1
    return cases


def _nonfinite(inputs: dict[str, np.ndarray]) -> bool:
    return any(v.dtype.kind == "f" and not np.all(np.isfinite(v)) for v in inputs.values())


CASES = _http_cases()


def _array(v: Any) -> np.ndarray:
    return np.array(v, dtype=np.float64)  # "NaN" / "Infinity" strings included


@pytest.mark.parametrize(("op", "call"), CASES, ids=[f"{op}-{i}" for i, (op, _) in
                                                     enumerate(CASES)])
async def test_http_answers_torch_numbers(client: Any, op: str, call: Any) -> None:
    value, grads = torch_result(call)
    body = {"inputs": {k: wire(v) for k, v in call.inputs.items()}, "params": call.params,
            "reduction": call.reduction}
    if call.wrt is not None:  # gradients beyond the default ones (targets...: issue 19, item 3)
        body["wrt"] = call.wrt
    r = await client.post(f"/gradient/{call.loss}", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    np.testing.assert_allclose(_array(out["value"]), value, rtol=RTOL, atol=1e-10)
    if call.reduction == "none":
        np.testing.assert_allclose(_array(out["per_sample"]), _per_sample(value), rtol=RTOL,
                                   atol=1e-10)
    for name, g in grads.items():
        np.testing.assert_allclose(_array(out["gradients"][name]), g, rtol=RTOL, atol=1e-10)
    if _nonfinite(call.inputs):
        assert "nonfinite_input" in [w["code"] for w in out["warnings"]]


async def test_every_opinfo_loss_is_sent() -> None:
    assert len({op for op, _ in CASES}) >= 20
    nonfinite = {op for op, call in CASES if _nonfinite(call.inputs)}
    assert {"hinge_embedding_loss", "margin_ranking_loss"} <= nonfinite, nonfinite
