"""The ``convention`` parameter of triplet_margin: ``optax`` (no swap, its own eps and norm, with
|a - b| where optax omits the abs) against a torch reference, ``torch`` against PyTorch, optax's
docstring example, the defaults and refusals, and finite differences.

Oracles: PyTorch 2.13.0 live (float64 autograd); optax's formula written in torch ops. Its optax
goldens are in test_conventions_multiclass.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate, get_loss
from tests.conftest import to_np
from tests.losses.conventions_support import check_fd, check_torch, triplet_inputs
from tests.losses.support import REDUCTIONS, loss_error, reduced, rng_for

# ------------------------------------------------------------------------- triplet_margin


def _torch_optax_triplet(p, margin, eps, reduction):
    import torch

    def dist(u, v):
        return ((u - v).abs() ** p).sum(-1).add(eps) ** (1.0 / p)

    def fn(anchor, positive, negative):
        h = dist(anchor, positive) - dist(anchor, negative) + margin
        return reduced(torch.clamp_min(h, 0.0), reduction)
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("p", "eps"), [(2.0, 1e-6), (2.0, 0.05), (4.0, 1e-3), (3.0, 1e-6),
                                        (1.0, 1e-6), (1.5, 0.0)])
def test_optax_convention_matches_a_torch_reference(p, eps, reduction):
    # the reference is optax's formula, with |a - b| (optax omits the abs; see the spec notes)
    rng = rng_for("tm-optax", p, eps, reduction)
    inputs = triplet_inputs(rng)
    params = {"convention": "optax", "p": p, "eps": eps, "margin": 1.5}
    check_torch("triplet_margin", inputs, params, reduction,
                _torch_optax_triplet(p, 1.5, eps, reduction),
                ("anchor", "positive", "negative"))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_convention_matches_torch_and_differs_from_optax(reduction):
    import torch.nn.functional as F

    rng = rng_for("tm-torch", reduction)
    inputs = triplet_inputs(rng)
    params = {"convention": "torch", "eps": 0.05}
    r = check_torch("triplet_margin", inputs, params, reduction,
                    lambda anchor, positive, negative: F.triplet_margin_loss(
                        anchor, positive, negative, eps=0.05, reduction=reduction),
                    ("anchor", "positive", "negative"))
    o = evaluate("triplet_margin", inputs, {"convention": "optax", "eps": 0.05},
                 reduction=reduction)
    assert not np.allclose(to_np(r.value), to_np(o.value), rtol=1e-6)


def test_optax_docstring_example():
    # optax.losses.triplet_margin_loss's own docstring prints [0.1414 0.1414]
    r = evaluate("triplet_margin", {"anchor": [[0.0, 0.0], [1.0, 1.0]],
                                    "positive": [[0.1, 0.1], [1.1, 1.1]],
                                    "negative": [[1.0, 0.0], [0.0, 1.0]]},
                 {"convention": "optax"}, reduction="none")
    assert np.allclose(to_np(r.value), 0.1414, atol=5e-5)


def test_triplet_eps_defaults_and_swap_refused_under_optax():
    assert get_loss("triplet_margin").defaults["eps"] == 1e-6  # torch's and optax's default
    assert get_loss("triplet_margin").defaults["convention"] == "torch"
    inputs = triplet_inputs(rng_for("tm-swap"))
    e = loss_error("triplet_margin", inputs, {"convention": "optax", "swap": True})
    assert e.code == "invalid_param" and e.loc == ("params", "swap")
    e = loss_error("triplet_margin", inputs, {"convention": "keras"})
    assert e.code == "unsupported_convention"


@pytest.mark.parametrize(("p", "eps"), [(2.0, 1e-6), (3.0, 1e-3), (1.0, 0.0), (0.7, 1e-6)])
def test_optax_triplet_gradients_match_finite_differences(p, eps):
    inputs = triplet_inputs(rng_for("tm-fd", p, eps), shape=(4, 3))
    check_fd("triplet_margin", inputs, {"convention": "optax", "p": p, "eps": eps})
