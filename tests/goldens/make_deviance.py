"""Regenerate deviance.json: Keras 3 ``Poisson`` numbers (the other losses of
``service/losses/deviance.py`` are tested against scikit-learn live).

Keras 3 is not a dependency of the service; run this in a scratch environment:

    python3 -m venv /tmp/oracle && /tmp/oracle/bin/pip install keras
    KERAS_BACKEND=numpy /tmp/oracle/bin/python tests/goldens/make_deviance.py

Keras computes in float32 on every backend but TensorFlow, so the inputs are float32-representable
and the outputs are float32 numbers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "numpy")

import keras
import numpy as np

OUT = Path(__file__).parent / "deviance.json"


def f32(a: np.ndarray) -> list:
    return np.asarray(a, dtype=np.float32).astype(np.float64).tolist()


def case(x: list, y: list, note: str = "") -> dict:
    yt, yp = np.asarray(y, dtype=np.float32), np.asarray(x, dtype=np.float32)
    return {"loss": "poisson", "library": "keras", "dtype": "float32",
            "call": "keras.losses.Poisson()(targets, predictions)", "note": note,
            "inputs": {"predictions": x, "targets": y}, "params": {},
            "per_sample": np.asarray(keras.losses.poisson(yt, yp), np.float64).tolist(),
            "value": float(np.asarray(keras.losses.Poisson()(yt, yp)))}


def main() -> None:
    rng = np.random.default_rng(7)
    x = f32(rng.uniform(0.1, 4.0, size=(3, 4)))
    y = f32(rng.poisson(2.0, size=(3, 4)))
    cases = [
        case(x, y),
        case([[0.0, 1.0, 0.0]], [[2.0, 1.0, 0.0]], "a rate of 0 with count 2: 2 log(1e7)"),
    ]
    data = {"generator": "tests/goldens/make_deviance.py",
            "libraries": {"keras": keras.__version__, "keras_backend": keras.backend.backend(),
                          "numpy": np.__version__},
            "cases": cases}
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
