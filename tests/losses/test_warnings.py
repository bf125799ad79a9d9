"""Suspicious inputs torch computes on (issue 19, item 1): lenient validation returns torch's
numbers with warnings, strict validation (the core's default) raises the same code and location;
the fused kernels defer to the reference, so they give the same warnings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.error_codes import WARNING_CODES as DOCUMENTED
from service.losses import LossError, accel, evaluate, get_loss
from service.losses.warn import WARNING_CODES

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(19)
X = RNG.normal(size=(4, 3))
P = RNG.uniform(0.05, 0.95, size=(4, 3))
Y3 = np.array([0, 2, 1, 2])
ROWS = np.abs(RNG.normal(size=(4, 3)))  # rows that do not sum to 1
SIGNS = np.array([1.0, -1.0, 0.0, 2.0])
V = RNG.normal(size=4)


def t(a: Any) -> Any:
    return torch.tensor(np.asarray(a))


# (loss, inputs, params, torch function of the predictions tensor, code, loc of the warning)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], Any, str, tuple[Any, ...]]] = [
    ("cross_entropy", {"predictions": X, "targets": ROWS}, {},
     lambda x: F.cross_entropy(x, t(ROWS)), "probability_rows_not_normalized", ("targets", 0)),
    ("cross_entropy", {"predictions": X, "targets": ROWS - 0.5}, {},
     lambda x: F.cross_entropy(x, t(ROWS - 0.5)), "probability_out_of_range",
     ("targets", *map(int, np.argwhere(ROWS - 0.5 < 0)[0]))),
    ("cross_entropy", {"predictions": X, "targets": Y3}, {"weight": [1.0, -2.0, 0.7]},
     lambda x: F.cross_entropy(x, t(Y3), weight=t([1.0, -2.0, 0.7])), "invalid_param",
     ("params", "weight", 1)),
    ("nll", {"predictions": X, "targets": Y3}, {},
     lambda x: F.nll_loss(x, t(Y3)), "invalid_value",
     ("predictions", *map(int, np.argwhere(X > 0)[0]))),
    ("multi_margin", {"predictions": X, "targets": Y3}, {"weight": [-1.0, 1.0, 2.0]},
     lambda x: F.multi_margin_loss(x, t(Y3), weight=t([-1.0, 1.0, 2.0])), "invalid_param",
     ("params", "weight", 0)),
    ("binary_cross_entropy_with_logits", {"predictions": X, "targets": P * 3 - 1}, {},
     lambda x: F.binary_cross_entropy_with_logits(x, t(P * 3 - 1)), "probability_out_of_range",
     ("targets", *map(int, np.argwhere((P * 3 - 1 < 0) | (P * 3 - 1 > 1))[0]))),
    ("binary_cross_entropy_with_logits", {"predictions": X, "targets": X}, {"pos_weight": -2.0},
     lambda x: F.binary_cross_entropy_with_logits(x, t(X), pos_weight=t(-2.0)),
     "invalid_param", ("params", "pos_weight")),
    ("soft_margin", {"predictions": V, "targets": SIGNS}, {},
     lambda x: F.soft_margin_loss(x, t(SIGNS)), "invalid_label", ("targets", 2)),
    ("hinge_embedding", {"predictions": V, "targets": SIGNS}, {},
     lambda x: F.hinge_embedding_loss(x, t(SIGNS), reduction="sum"), "invalid_label",
     ("targets", 2)),
    ("multilabel_soft_margin", {"predictions": X, "targets": ROWS}, {},
     lambda x: F.multilabel_soft_margin_loss(x, t(ROWS)), "probability_out_of_range",
     ("targets", *map(int, np.argwhere(ROWS > 1)[0]))),
    ("kl_div", {"predictions": X, "targets": P}, {},
     lambda x: F.kl_div(x, t(P), reduction="sum"), "invalid_value",
     ("predictions", *map(int, np.argwhere(X > 0)[0]))),
    ("poisson_nll", {"predictions": X, "targets": -P}, {},
     lambda x: F.poisson_nll_loss(x, t(-P)), "invalid_value", ("targets", 0, 0)),
]
REDUCTION = {"hinge_embedding": "sum", "kl_div": "sum"}


@pytest.mark.torch
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[4]}" for c in CASES])
def test_lenient_gives_torch_and_the_warning(case: Any) -> None:
    name, inputs, params, fn, code, loc = case
    x = torch.tensor(inputs["predictions"], requires_grad=True)
    expected = fn(x)
    (grad,) = torch.autograd.grad(expected, x)
    ev = evaluate(name, inputs, params, reduction=REDUCTION.get(name, "mean"), want_grad=True,
                  validate="lenient")
    np.testing.assert_allclose(ev.value, expected.detach().numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ev.gradients["predictions"], grad.numpy(), rtol=1e-10,
                               atol=1e-14)
    assert (code, loc) in [(w.code, w.loc) for w in ev.warnings]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[4]}" for c in CASES])
def test_strict_refuses_with_the_same_code_and_location(case: Any) -> None:
    name, inputs, params, _, code, loc = case
    for validate in ("strict", None):  # the core's default is strict
        kw = {} if validate is None else {"validate": validate}
        with pytest.raises(LossError) as exc:
            evaluate(name, inputs, params, **kw)
        assert (exc.value.code, exc.value.loc) == (code, loc) or exc.value.code in WARNING_CODES


def test_a_kernel_called_directly_raises() -> None:
    spec = get_loss("soft_margin")
    with pytest.raises(LossError, match="targets must be in"):
        spec.fn(V, SIGNS)


def test_clean_inputs_have_no_warnings() -> None:
    ev = evaluate("cross_entropy", {"predictions": X, "targets": Y3}, {"weight": [1, 2, 3]},
                  validate="lenient")
    assert ev.warnings == ()


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(LossError) as exc:
        evaluate("mse", {"predictions": V, "targets": V}, validate="loose")
    assert exc.value.loc == ("validate",)


@pytest.mark.parametrize(("name", "inputs", "params"), [
    ("cross_entropy", {"predictions": RNG.normal(size=(600, 4)),
                       "targets": RNG.integers(0, 4, size=600)}, {"weight": [1, -1, 2, 3]}),
    ("multi_margin", {"predictions": RNG.normal(size=(600, 4)),
                      "targets": RNG.integers(0, 4, size=600)}, {"weight": [1, -1, 2, 3]}),
    ("binary_cross_entropy_with_logits", {"predictions": RNG.normal(size=(600, 4)),
                                          "targets": RNG.normal(size=(600, 4))}, {}),
])
def test_the_fused_kernels_give_the_reference_and_its_warnings(name: str, inputs: Any,
                                                               params: Any) -> None:
    fast = evaluate(name, inputs, params, want_grad=True, validate="lenient")
    ref = evaluate(name, inputs, params, want_grad=True, validate="lenient",
                   acceleration=accel.OFF)
    assert fast.warnings == ref.warnings and ref.warnings
    np.testing.assert_allclose(fast.value, ref.value, rtol=1e-12)
    np.testing.assert_allclose(fast.gradients["predictions"], ref.gradients["predictions"],
                               rtol=1e-12, atol=1e-15)


def test_every_warning_code_is_documented() -> None:
    from pathlib import Path

    assert {w.code for w in DOCUMENTED} == WARNING_CODES
    api = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    section = api[api.index("### Warnings and validate"):api.index("## Library conventions")]
    assert all(f"| `{code}` |" in section for code in WARNING_CODES)
