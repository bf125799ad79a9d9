"""The CuPy backend: one host-to-device copy in, one device-to-host copy out per request.

CuPy is an optional dependency (``pip install '.[gpu]'``). Availability is checked honestly: not
installed, no CUDA device, or a driver/runtime problem each give their own reason.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from .base import Availability, pack, unpack


class CupyBackend:
    name = "cupy"

    @cached_property
    def _probe(self) -> Availability:
        try:
            cupy = importlib.import_module("cupy")
        except ImportError:
            return Availability(False, "CuPy is not installed (install the gpu extra: "
                                "pip install '.[gpu]')")
        except Exception as exc:  # a broken install: report it rather than crash
            return Availability(False, f"CuPy failed to import: {type(exc).__name__}: {exc}")
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError: no driver, or the driver is too old
            return Availability(False, f"CUDA is not usable: {exc}")
        if count < 1:
            return Availability(False, "no CUDA device is present")
        try:
            props = cupy.cuda.runtime.getDeviceProperties(0)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            cupy.arange(4).sum().item()  # a kernel actually runs
        except Exception as exc:
            return Availability(False, f"the CUDA device cannot run kernels: {exc}")
        return Availability(True, device=str(name))

    def availability(self) -> Availability:
        return self._probe

    def to_device(self, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
        import cupy

        buf, layout = pack(arrays)
        return unpack(cupy.asarray(buf), layout)

    def to_host(self, arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
        import cupy

        flat = {k: cupy.ascontiguousarray(v) for k, v in arrays.items()}
        if not flat:
            return {}
        layout = []
        offset = 0
        for k, v in flat.items():
            layout.append((k, offset, v.dtype, tuple(v.shape)))
            offset += -(-v.nbytes // 16) * 16
        dev = cupy.empty(offset, dtype=cupy.uint8)
        for (_, off, _, _), v in zip(layout, flat.values(), strict=True):
            dev[off:off + v.nbytes] = v.reshape(-1).view(cupy.uint8)
        return unpack(dev.get(), layout)  # the one device-to-host copy
