"""multilabel_margin against torch 2.13.0 ``F.multilabel_margin_loss`` (float64, autograd):
shapes (C,) and (N, C), every reduction, padded target lists, duplicate labels, rows with no
target class, the kink, extreme scores, and every error with its location."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, to_np, torch_oracle

REDUCTIONS = ["none", "mean", "sum"]


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _torch(reduction):
    import torch.nn.functional as F

    def fn(predictions, targets):
        return F.multilabel_margin_loss(predictions, targets, reduction=reduction)
    return fn


def _check(x, t, reduction):
    inputs = {"predictions": x, "targets": np.asarray(t, dtype=np.int64)}
    value, grads = torch_oracle(_torch(reduction), inputs, ("predictions",), reduction)
    r = evaluate("multilabel_margin", inputs, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    return r


def _targets(rng, n, c, garbage_after=True) -> np.ndarray:
    """Random target lists: 0..c distinct classes, a -1, then (optionally) arbitrary valid
    entries that must be ignored; some rows list a class twice."""
    t = np.full((n, c), -1, dtype=np.int64)
    for r in range(n):  # test-only loop building random rows
        k = int(rng.integers(0, c + 1))
        t[r, :k] = rng.permutation(c)[:k]
        if garbage_after and k < c - 1:
            t[r, k + 1:] = rng.integers(-1, c, size=c - k - 1)
        if k >= 2 and rng.random() < 0.3:
            t[r, 1] = t[r, 0]  # a duplicate label counts twice
    return t


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("n", "c"), [(6, 5), (1, 4), (9, 2), (40, 7)])
def test_matches_torch(n, c, reduction):
    rng = _rng(n, c, reduction)
    x = rng.normal(size=(n, c)) * 1.5
    r = _check(x, _targets(rng, n, c), reduction)
    assert to_np(r.value).shape == ((n,) if reduction == "none" else ())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("t", [[3, 0, -1, 1], [2, -1, -1, -1], [1, 1, 2, -1], [-1, 0, 1, 2],
                               [0, 1, 2, 3], [3, 3, 3, 3]])
def test_unbatched_matches_torch(t, reduction):
    x = np.array([0.1, 0.2, 0.4, 0.8])
    r = _check(x, t, reduction)
    assert to_np(r.value).shape == ()


def test_torch_documentation_example():
    # torch.nn.MultiLabelMarginLoss docs: x = [0.1, 0.2, 0.4, 0.8], y = [3, 0, -1, 1] -> 0.85
    r = evaluate("multilabel_margin", {"predictions": [[0.1, 0.2, 0.4, 0.8]],
                                       "targets": [[3, 0, -1, 1]]})
    assert_close(r.value, 0.85)


def test_duplicates_count_twice_and_empty_lists_give_zero():
    x = np.array([[0.1, 0.2, 0.4, 0.8], [0.1, 0.2, 0.4, 0.8], [1.0, -2.0, 0.5, 0.0]])
    t = np.array([[3, -1, 0, 0], [3, 3, -1, 1], [-1, 0, 1, 2]])
    r = _check(x, t, "none")
    v = to_np(r.value)
    assert_close(v[1], 2 * v[0])  # torch: 0.65 = 2 * 0.325
    assert v[2] == 0.0 and np.all(to_np(r.gradients["predictions"])[2] == 0.0)


def test_every_class_listed_gives_zero():
    r = _check(np.array([[0.3, -5.0, 2.0]]), np.array([[2, 0, 1]]), "sum")
    assert float(to_np(r.value)) == 0.0


def test_kink_has_gradient_zero_like_torch():
    # 1 - (x_y - x_i) = 0 exactly for i = 0; torch's kernel uses a strict z > 0
    x = np.array([[0.5, 1.5, -3.0]])
    r = _check(x, np.array([[1, -1, -1]]), "sum")
    assert_close(r.gradients["predictions"], [[0.0, 0.0, 0.0]])


def test_stable_at_scores_of_1000():
    x = np.array([[1000.0, -1000.0, 0.0, 999.5], [-1000.0, 1000.0, 0.0, 0.0]])
    t = np.array([[1, 2, -1, 0], [0, -1, -1, -1]])
    r = _check(x, t, "none")
    assert np.all(np.isfinite(to_np(r.value)))


def test_vectorised_over_a_large_batch():
    rng = _rng("large")
    x = rng.normal(size=(300, 9))
    _check(x, _targets(rng, 300, 9), "mean")


def test_errors():
    x = np.zeros((2, 3))
    cases = [
        ({"predictions": x, "targets": [[0, 1, -1], [3, -1, -1]]},
         "class_index_out_of_range", ("targets", 1, 0)),
        ({"predictions": x, "targets": [[0, -2, -1], [1, -1, -1]]},
         "class_index_out_of_range", ("targets", 0, 1)),
        # torch checks entries after the first -1 as well
        ({"predictions": x, "targets": [[0, -1, 5], [1, -1, -1]]},
         "class_index_out_of_range", ("targets", 0, 2)),
        ({"predictions": x, "targets": [[0, 1, -1]]}, "shape_mismatch", ("targets",)),
        ({"predictions": x, "targets": [0, 1]}, "shape_mismatch", ("targets",)),
        ({"predictions": x, "targets": [[0.0, 1.0, -1.0], [1.0, -1.0, -1.0]]},
         "invalid_dtype", ("targets",)),
        ({"predictions": np.zeros((2, 3, 1)), "targets": np.zeros((2, 3, 1), int)},
         "invalid_shape", ("predictions",)),
    ]
    for inputs, code, loc in cases:
        with pytest.raises(LossError) as exc:
            evaluate("multilabel_margin", inputs)
        assert exc.value.code == code and exc.value.loc == loc, (inputs, exc.value)


def test_torch_refuses_the_same_out_of_range_targets():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    x = torch.zeros((1, 3), dtype=torch.float64)
    for t in ([[0, -2, -1]], [[0, -1, 5]], [[3, -1, -1]]):
        with pytest.raises(RuntimeError):
            F.multilabel_margin_loss(x, torch.tensor(t))
