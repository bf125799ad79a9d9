"""Replay of PyTorch's ``torch.nn`` loss-module tests through the core (issue 19, item 2).

The OpInfo replay (tests/losses/test_torch_opinfo_replay.py) covers ``op_db``; this module covers
the two other sources of loss inputs torch ships (:mod:`tests.losses.module_replay`):
``common_nn.criterion_tests`` (48 tests: 16 modules without a batch dimension, each reduction) and
the ``module_db`` ModuleInfos of every ``nn`` loss module (``module_inputs_func``, and
``module_error_inputs_func`` where it has one). Over SEEDS, each module's forward call becomes a
service call (class and attributes: loss name and params) and must give the module's value (the
unreduced array for reduction none), per-sample values and the gradients of its output's sum
with respect to every input that has ``requires_grad`` (LinearCrossEntropyLoss: its ``linear``
parameters too) to 1e-7 relative, under ``validate="lenient"``; every construction or call
torch refuses must be refused with a ``LossError``. What this service cannot express, refuses
although torch computes it, or computes although torch refuses it is listed below with the
reason: a case outside these tables fails, and so does a row no case needs any more. Counts are
printed (``pytest -s``). tests/api/test_torch_module_replay_http.py sends a share over HTTP.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from service.losses import LossError, accel, evaluate

from .module_replay import (
    FUNCTIONAL_OF,
    Case,
    criterion_cases,
    expected_error,
    loss_module_infos,
    module_cases,
    module_result,
    one_torch_thread,  # noqa: F401 (an autouse fixture)
    to_call,
    torch_refuses,
)
from .opinfo_replay import Call, Unexpressible, torch
from .test_torch_opinfo_replay import check

pytestmark = pytest.mark.torch

SEEDS = (0, 1, 2)
# marked slow: LinearCrossEntropyLoss's 857 module inputs per seed (its options choose how torch
# chunks the batch, which the service has no counterpart for): about 6 s over SEEDS on a busy
# 2-core machine
SLOW = {"LinearCrossEntropyLoss"}

# Each row names the source and the module class whose replay needs it, and says why.

# (source, module class, what, why): calls the service cannot express (matched to Unexpressible)
UNEXPRESSIBLE: tuple[tuple[str, str, str, str], ...] = (
    ("module_db", "HuberLoss", r"complex dtype: delta",
     "an error input: a complex delta (torch's constructor refuses it); JSON numbers are real"),
    ("module_db", "NLLLoss", r"different float dtypes: torch.float16, torch.float64",
     "an error input: a float16 class weight beside float64 scores (torch refuses the mix); a "
     "service call has one dtype for all its arrays"),
)

# calls torch computes that the service refuses: (source, module class, code, message, why)
# (none: a mean over targets all ignored, once refused, is torch's NaN with a warning)
REFUSED: tuple[tuple[str, str, str, str, str], ...] = ()

# calls torch refuses that the service computes: (source, module class, torch's error, why)
ACCEPTED: tuple[tuple[str, str, str, str], ...] = (
    ("module_db", "CrossEntropyLoss",
     r"Expected floating point type for target with class probabilities",
     "integer targets of the scores' shape: the service reads them as one-hot probability rows "
     "(cross_entropy's documented deviation: a JSON array does not say int64 or float64)"),
    ("module_db", "LinearCrossEntropyLoss",
     r"Expected floating point type for target with class probabilities",
     "integer targets of the scores' shape: read as one-hot probability rows, as cross_entropy "
     "(linear_softmax's documented deviation)"),
)
TABLES = {"UNEXPRESSIBLE": UNEXPRESSIBLE, "REFUSED": REFUSED, "ACCEPTED": ACCEPTED}


def _row(rows: tuple[tuple[str, ...], ...], case: Case, *match: str) -> tuple[str, ...] | None:
    """The row of ``rows`` for ``case``'s source and class whose next fields match ``match``
    (the last as a regex on a message, the others exactly)."""
    n = len(match)
    for r in rows:
        if r[:2] == (case.source, case.cls) and r[2:1 + n] == match[:-1] and re.search(
                r[1 + n], match[-1]):
            return r
    return None


def service(call: Call) -> Any:
    """The core's evaluation of ``call`` (as the OpInfo replay evaluates)."""
    return evaluate(call.loss, call.inputs, call.params, reduction=call.reduction,
                    want_grad=bool(call.grad_inputs), validate="lenient",
                    acceleration=accel.OFF, wrt=call.wrt)


def replay(cases: Any) -> tuple[Counter[str], list[str], set[tuple[str, ...]]]:
    """Counts, failures and the table rows hit, over ``cases``."""
    counts, failures, hit = Counter[str](), [], set()
    for case in cases:
        try:
            call = to_call(case)
        except Unexpressible as exc:
            counts["unexpressible"] += 1
            row = _row(UNEXPRESSIBLE, case, str(exc))
            if row is None:
                failures.append(f"{case.where}: not in UNEXPRESSIBLE: {exc}")
            hit.add(row or ())
            continue
        if case.error is not None:
            _error_case(case, call, counts, failures, hit)
            continue
        try:
            value, grads = module_result(case, call)
        except Exception as exc:  # torch's own test inputs: it computes every one of them
            failures.append(f"{case.where}: torch raised {exc!r}")
            continue
        counts["computed"] += 1
        try:
            ev = service(call)
        except LossError as exc:
            counts["refused_by_us"] += 1
            row = _row(REFUSED, case, exc.code, exc.message)
            if row is None:
                failures.append(f"{case.where}: torch computes it, refused: {exc!r}")
            hit.add(row or ())
            continue
        diff = check(call, ev, value, grads)
        counts["matched" if not diff else "mismatched"] += 1
        counts["gradients"] += len(grads)
        if diff:
            failures.append(f"{case.where}: {'; '.join(diff)}")
    return counts, failures, hit


def _error_case(case: Case, call: Call, counts: Counter[str], failures: list[str],
                hit: set[tuple[str, ...]]) -> None:
    """An error input: torch refuses it, with the error its ModuleInfo names, and so must the
    service."""
    message = torch_refuses(case)
    if not expected_error(case, message):
        failures.append(f"{case.where}: torch did not raise it: {message}")
        return
    try:
        service(call)
    except LossError:
        counts["error_refused"] += 1
        return
    counts["error_accepted"] += 1
    row = _row(ACCEPTED, case, message)
    if row is None:
        failures.append(f"{case.where}: torch refuses it, the service computed it")
    hit.add(row or ())


def _criterion_classes() -> list[str]:
    from torch.testing._internal.common_nn import criterion_tests

    return sorted({t["fullname"].split("_no_batch_dim")[0] for t in criterion_tests})


def criterion_replay(cls: str) -> Any:
    return replay(c for s in SEEDS for c in criterion_cases(s) if c.cls == cls)


def module_replay(info: Any) -> Any:
    return replay(c for s in SEEDS for c in module_cases(info, s))


CRITERION_CLASSES = _criterion_classes()
MODULE_INFOS = loss_module_infos()


def _report(source: str, cls: str, result: Any) -> None:
    """Print the counts; fail on any failure, and on a table row of ``source`` and ``cls``
    that no case hit (the replay covers every seed of them)."""
    counts, failures, hit = result
    print(f"{source} {cls}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    stale = [r for rows in TABLES.values() for r in rows if r[:2] == (source, cls)
             and r not in hit]
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} in all)"
    assert not stale, f"table rows no case needs any more (remove them): {stale}"
    assert counts["matched"] + counts["error_refused"] > 0


@pytest.mark.parametrize("cls", CRITERION_CLASSES)
def test_criterion_replay(cls: str) -> None:
    _report("criterion", cls, criterion_replay(cls))


@pytest.mark.parametrize("info", [
    pytest.param(i, marks=[pytest.mark.slow] if i.module_cls.__name__ in SLOW else [])
    for i in MODULE_INFOS], ids=lambda i: i.module_cls.__name__)
def test_module_db_replay(info: Any) -> None:
    _report("module_db", info.module_cls.__name__, module_replay(info))


def test_every_loss_module_is_replayed() -> None:
    """Every criterion test and every loss ModuleInfo has a translation; every table row
    names a source and class replayed above (whose test checks the row is still needed)."""
    from torch.testing._internal.common_nn import criterion_tests

    assert len(criterion_tests) >= 48
    assert set(CRITERION_CLASSES) <= set(FUNCTIONAL_OF), set(CRITERION_CLASSES) - set(
        FUNCTIONAL_OF)
    names = {i.module_cls.__name__ for i in MODULE_INFOS}
    assert names <= set(FUNCTIONAL_OF), names - set(FUNCTIONAL_OF)
    assert len(names) >= 20
    assert all(isinstance(getattr(torch.nn, n), type) for n in FUNCTIONAL_OF)
    replayed = {("criterion", c) for c in CRITERION_CLASSES} | {("module_db", n) for n in names}
    unknown = [r for rows in TABLES.values() for r in rows if r[:2] not in replayed]
    assert not unknown, unknown
