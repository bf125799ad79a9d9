"""The CuPy backend: one host-to-device copy in, one device-to-host copy out per request.

CuPy is an optional dependency (``pip install '.[gpu]'``). Availability is checked honestly: not
installed, no CUDA device, or a driver/runtime problem each give their own reason.

**Why a pinned staging buffer.** A copy between pageable host memory and the device goes through
the driver's own small pinned buffers, one CPU thread at a time: measured on an H200
(``python -m bench.gpu``), about 2.5 GB/s each way, so a 1e8-value cross_entropy spent 0.36 s
copying in and 0.26 s copying out around 10 ms of compute, and the GPU lost to the CPU at every
size. Here the arrays are packed by :data:`COPY_THREADS` threads into a page-locked buffer that the
backend keeps (grown up to :data:`STAGING_BYTES`; larger transfers go through it in slices), and
the device reads it by DMA; results come back the same way. Only the device worker's thread calls
this backend, so the one buffer is never shared. bench/README.md has the numbers.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

import numpy as np

from .base import Availability, unpack

STAGING_BYTES = 256 * 2**20  # the largest pinned staging buffer; larger copies go in slices
COPY_THREADS = 4  # threads that copy between NumPy arrays and the staging buffer
_MIN_SPLIT = 4 * 2**20  # a host copy is split among threads only in pieces of at least this


def _aligned(n: int, to: int = 16) -> int:
    return -(-n // to) * to


def _layout(arrays: Mapping[str, Any]) -> tuple[list[tuple[str, int, Any, tuple]], int]:
    """Each array's (name, byte offset, dtype, shape) in one buffer of 16-byte aligned slots."""
    layout, offset = [], 0
    for name, a in arrays.items():
        layout.append((name, offset, a.dtype, tuple(a.shape)))
        offset += _aligned(a.nbytes)
    return layout, offset


class CupyBackend:
    name = "cupy"

    def __init__(self) -> None:
        self.copy_threads = COPY_THREADS
        self._staging: np.ndarray | None = None  # uint8 view of page-locked host memory
        self._pool: ThreadPoolExecutor | None = None

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

    def _stage(self, nbytes: int) -> np.ndarray:
        """The pinned staging buffer, at least ``min(nbytes, STAGING_BYTES)`` bytes long."""
        want = min(max(nbytes, 1), STAGING_BYTES)
        if self._staging is None or self._staging.nbytes < want:
            import cupy

            size = min(1 << (want - 1).bit_length(), STAGING_BYTES)  # grow by powers of two
            self._staging = None  # free the old buffer before taking the new one
            mem = cupy.cuda.alloc_pinned_memory(size)
            self._staging = np.frombuffer(mem, np.uint8, size)
        return self._staging

    def _copy(self, dst: np.ndarray, src: np.ndarray) -> None:
        """``dst[...] = src`` (same shape), split among the copy threads when large."""
        n = dst.shape[0] if dst.ndim else 1
        pieces = min(self.copy_threads, dst.nbytes // _MIN_SPLIT)
        if pieces < 2 or dst.ndim == 0:
            np.copyto(dst, src)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.copy_threads, thread_name_prefix="gpu-copy")
        step = -(-n // pieces)
        futures = [self._pool.submit(np.copyto, dst[i:i + step], src[i:i + step])
                   for i in range(0, n, step)]
        for f in futures:
            f.result()

    def to_device(self, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
        import cupy

        layout, total = _layout(arrays)
        dev = cupy.empty(total, dtype=cupy.uint8)
        flat = [np.asarray(a).reshape(-1).view(np.uint8) if a.flags.c_contiguous
                else np.ascontiguousarray(a).reshape(-1).view(np.uint8)
                for a in arrays.values()]
        # walk the packed buffer in slices of the staging buffer's size: pack, then DMA
        stage = self._stage(total)
        start = 0
        while start < total:
            stop = min(start + stage.nbytes, total)
            self._pack(flat, layout, start, stop, stage)
            dev[start:stop].set(stage[:stop - start])
            start = stop
        return unpack(dev, layout)

    def _pack(self, flat: list[np.ndarray], layout: list[tuple[str, int, Any, tuple]],
              start: int, stop: int, stage: np.ndarray) -> None:
        """Bytes ``start:stop`` of the packed buffer into ``stage[:stop - start]``."""
        for a, (_, off, _, _) in zip(flat, layout, strict=True):
            lo, hi = max(off, start), min(off + a.nbytes, stop)
            if lo < hi:
                self._copy(stage[lo - start:hi - start], a[lo - off:hi - off])

    def to_host(self, arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
        import cupy

        if not arrays:
            return {}
        layout, total = _layout(arrays)  # the arrays' own shapes: a 0-d value stays 0-d
        dev = cupy.empty(total, dtype=cupy.uint8)
        for (_, off, _, _), v in zip(layout, arrays.values(), strict=True):
            # (ascontiguousarray makes a 0-d array 1-d: the layout keeps the shape)
            flat = cupy.ascontiguousarray(v).reshape(-1).view(cupy.uint8)
            dev[off:off + flat.nbytes] = flat
        host = np.empty(total, dtype=np.uint8)
        stage = self._stage(total)
        start = 0
        while start < total:  # the one device-to-host copy, by DMA, a staging buffer at a time
            stop = min(start + stage.nbytes, total)
            dev[start:stop].get(out=stage[:stop - start])
            self._copy(host[start:stop], stage[:stop - start])
            start = stop
        return unpack(host, layout)
