"""The backend interface: move host arrays to a device in one copy, and results back in one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str | None = None  # why not, when unavailable
    device: str | None = None  # e.g. the GPU's name

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"available": self.available}
        if self.reason:
            out["reason"] = self.reason
        if self.device:
            out["device"] = self.device
        return out


class Backend(Protocol):
    name: str

    def availability(self) -> Availability: ...

    def to_device(self, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]: ...

    def to_host(self, arrays: Mapping[str, Any]) -> dict[str, np.ndarray]: ...


def _aligned(n: int, to: int = 16) -> int:
    return -(-n // to) * to


def pack(arrays: Mapping[str, np.ndarray]) -> tuple[np.ndarray, list[tuple[str, int, Any, tuple]]]:
    """All arrays in one contiguous byte buffer (16-byte aligned slots) plus their layout, so a
    device copy is one transfer whatever the number of inputs."""
    layout = []
    offset = 0
    for name, a in arrays.items():
        layout.append((name, offset, a.dtype, a.shape))
        offset += _aligned(a.nbytes)
    buf = np.empty(offset, dtype=np.uint8)
    for (_, off, _, _), a in zip(layout, arrays.values(), strict=True):
        buf[off:off + a.nbytes] = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    return buf, layout


def unpack(buf: Any, layout: list[tuple[str, int, Any, tuple]]) -> dict[str, Any]:
    """Views into ``buf`` (NumPy or CuPy) following ``layout``."""
    out = {}
    for name, off, dtype, shape in layout:
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        out[name] = buf[off:off + nbytes].view(dtype).reshape(shape)
    return out
