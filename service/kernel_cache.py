"""Seed numba's cache with kernels compiled when the image was built.

numba loads a cached kernel only from a cache directory it can write to, and a container's root
file system is often read-only (``read_only: true`` in docker-compose.yml,
``readOnlyRootFilesystem`` in deploy/k8s). The Docker image therefore compiles the fused kernels
at build time into a *seed* directory (``LOSS_SERVICE_KERNEL_CACHE_SEED``), and ``loss-service
serve`` copies the seed into ``NUMBA_CACHE_DIR`` (a writable path such as ``/tmp/numba-cache``)
before its workers start: their warm-up then loads the kernels (under a second) instead of
compiling them (about a minute on 2 cores). numba keys each cached kernel on the CPU; on a CPU
unlike the build machine's the copies are not used and the workers compile as without a seed.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger("service.kernel_cache")

SEED_ENV = "LOSS_SERVICE_KERNEL_CACHE_SEED"


def seed(environ: Mapping[str, str] | None = None) -> int:
    """Copy the seed's files into ``NUMBA_CACHE_DIR`` (existing files are kept); the number of
    files copied. 0, with nothing changed, where either variable is unset or the seed is not a
    directory; 0 with a warning where the copy fails (the workers then compile)."""
    env = os.environ if environ is None else environ
    source, target = env.get(SEED_ENV), env.get("NUMBA_CACHE_DIR")
    if not source or not target or not Path(source).is_dir():
        return 0
    copied = 0
    try:
        for path in Path(source).rglob("*"):
            if not path.is_file():
                continue
            dest = Path(target) / path.relative_to(source)
            if dest.exists():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)  # copy2: numba's index records the cache files' stamps
            copied += 1
    except OSError as exc:
        log.warning("could not seed the kernel cache %s from %s (%s); the workers compile the "
                    "fused kernels instead", target, source, exc)
        return 0
    return copied
