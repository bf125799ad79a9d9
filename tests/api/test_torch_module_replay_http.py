"""PyTorch's ``torch.nn`` loss-module tests replayed over HTTP (issue 19, item 2): a share of
what tests/losses/test_torch_module_replay.py replays through the core, sent as JSON to
``/gradient/{loss}`` with the server's default (lenient) validation and compared with the
module's own output and gradients; the error inputs torch refuses must get a 4xx."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from service.losses import LossError

from ..losses.module_replay import (
    Case,
    criterion_cases,
    loss_module_infos,
    module_cases,
    module_result,
    one_torch_thread,  # noqa: F401 (an autouse fixture)
    to_call,
)
from ..losses.opinfo_replay import Call, Unexpressible, wire
from ..losses.test_torch_module_replay import service
from ..losses.test_torch_opinfo_replay import check

pytestmark = [pytest.mark.anyio, pytest.mark.torch]

PER_MODULE = 4  # computed module_db inputs of seed 0 sent per loss module (the core: all)


def _cases() -> tuple[list[tuple[Case, Call]], list[tuple[Case, Call]], list[tuple[Case, Call]]]:
    """Seed 0: every criterion test; PER_MODULE module_db inputs per loss module, spread over
    its list, among those the core computes; every module_db error input the core refuses (the
    cases the core replay's tables list are left to it)."""
    criterion = [(case, to_call(case)) for case in criterion_cases(0)]
    modules, errors = [], []
    for info in loss_module_infos():
        cases = list(module_cases(info, 0))
        step = max(1, len(cases) // PER_MODULE)
        taken = 0
        for case in (cases[i] for i in sorted(range(len(cases)), key=lambda i: (i % step, i))):
            if case.error is None and taken == PER_MODULE:
                continue
            try:
                call = to_call(case)
            except Unexpressible:
                continue
            try:
                service(call)
            except LossError:
                if case.error is not None:
                    errors.append((case, call))
                continue
            if case.error is None:
                modules.append((case, call))
                taken += 1
    return criterion, modules, errors


CRITERION, MODULES, ERRORS = _cases()


def _body(call: Call) -> dict[str, Any]:
    body = {"inputs": {k: wire(v) for k, v in call.inputs.items()}, "params": call.params,
            "reduction": call.reduction}
    if call.wrt is not None:  # gradients beyond the default ones (targets...: issue 19, item 3)
        body["wrt"] = call.wrt
    return body


def _array(v: Any) -> np.ndarray | None:
    return None if v is None else np.array(v, dtype=np.float64)  # "NaN" strings included


async def _answers(client: Any, cases: list[tuple[Case, Call]]) -> list[str]:
    """What differs between the HTTP answers and torch's, over ``cases``."""
    failures = []
    for case, call in cases:
        value, grads = module_result(case, call)
        r = await client.post(f"/gradient/{call.loss}", json=_body(call))
        if r.status_code != 200:
            failures.append(f"{case.where}: HTTP {r.status_code}: {r.text[:300]}")
            continue
        out = r.json()
        ev = SimpleNamespace(value=_array(out["value"]), per_sample=_array(out.get("per_sample")),
                             gradients={k: _array(v) for k, v in
                                        (out.get("gradients") or {}).items()})
        failures += [f"{case.where}: {d}" for d in check(call, ev, value, grads)]
    return failures


async def test_criterion_tests_over_http(client: Any) -> None:
    assert len(CRITERION) >= 48
    failures = await _answers(client, CRITERION)
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} in all)"


async def test_module_db_inputs_over_http(client: Any) -> None:
    assert len({case.cls for case, _ in MODULES}) >= 20
    failures = await _answers(client, MODULES)
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} in all)"


async def test_module_db_error_inputs_are_refused_over_http(client: Any) -> None:
    assert len(ERRORS) >= 10
    accepted = []
    for case, call in ERRORS:
        r = await client.post(f"/gradient/{call.loss}", json=_body(call))
        if not 400 <= r.status_code < 500:
            accepted.append(f"{case.where}: HTTP {r.status_code}: {r.text[:200]}")
    assert not accepted, "\n".join(accepted)
