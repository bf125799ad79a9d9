"""The seeds' worked examples (../shared/seeds/README.md), reproduced through the HTTP API.

Each row: the lecture's inputs, the route, and the numbers the lecture prints (to its precision).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytestmark = pytest.mark.anyio

SVM_SCORES = [[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]  # rows: cat, car, frog images

SEEDS = [
    # (id, route, body, field, expected, decimals)
    ("003_svm_per_sample", "/loss/multiclass_hinge",
     {"predictions": SVM_SCORES, "targets": [0, 1, 2]}, "per_sample", [2.9, 0.0, 12.9], 2),
    ("003_svm_mean", "/loss/svm", {"predictions": SVM_SCORES, "targets": [0, 1, 2]}, "value",
     5.27, 2),
    ("003_softmax_loss", "/loss/cross_entropy",
     {"predictions": [[3.2, 5.1, -1.7]], "targets": [0]}, "value", 2.04, 2),
    ("003_squared_error", "/gradient/mse", {"predictions": [0.9], "targets": [0.0]}, "value",
     0.81, 2),
    ("003_squared_error_gradient", "/gradient/mse", {"predictions": [0.9], "targets": [0.0]},
     "gradient", [1.80], 2),
    ("003_cross_entropy", "/gradient/bce", {"predictions": [0.9], "targets": [0.0]}, "value",
     2.30, 2),
    ("003_cross_entropy_gradient", "/gradient/bce", {"predictions": [0.9], "targets": [0.0]},
     "gradient", [10.00], 2),
    ("003_initial_loss_log_c", "/loss/cross_entropy",
     {"predictions": [[0.0] * 10], "targets": [3]}, "value", 2.3, 1),
    ("002_likelihood", "/loss/likelihood",
     {"predictions": [0.5, 0.9, 0.2, 0.6, 0.1], "targets": [1, 1, 0, 0, 0]}, "value", -0.7, 2),
    ("002_binary_cross_entropy", "/loss/binary_cross_entropy",
     {"predictions": [0.2, 0.4, 0.8, 0.3, 0.9], "targets": [0, 0, 1, 0, 1]}, "value", 0.28, 2),
    ("002_categorical_cross_entropy", "/loss/nll",
     {"predictions": [[math.log(0.8), -1e4, -1e4, math.log(0.2), -1e4]], "targets": [0]},
     "value", 0.22, 2),
    ("004_softmax_gradient", "/gradient/cross_entropy",
     {"predictions": [[5.0, 4.0, 2.0]], "targets": [0]}, "gradient", [[-0.29, 0.26, 0.03]], 2),
]


@pytest.mark.parametrize(("route", "body", "field", "expected", "decimals"),
                         [s[1:] for s in SEEDS], ids=[s[0] for s in SEEDS])
async def test_seed_worked_example(client, route, body, field, expected, decimals):
    r = await client.post(route, json=body)
    assert r.status_code == 200, r.text
    got = r.json()[field]
    tol = 0.5 * 10**-decimals + 1e-12
    if decimals == 2 and route == "/gradient/cross_entropy":
        tol = 0.01  # seed 004 truncates 0.0351 to 0.03
    np.testing.assert_allclose(np.asarray(got, dtype=float), expected, rtol=0, atol=tol)
