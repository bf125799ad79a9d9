"""Seeding numba's cache from the image's precompiled kernels (service/kernel_cache.py)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from service import kernel_cache


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _seed_dir(tmp_path: Path) -> Path:
    seed = tmp_path / "seed"
    (seed / "losses_abc").mkdir(parents=True)
    (seed / "losses_abc" / "ce_kernels.prepare-1.py311.nbi").write_bytes(b"index")
    (seed / "losses_abc" / "ce_kernels.prepare-1.py311.1.nbc").write_bytes(b"code")
    (seed / "top.nbi").write_bytes(b"top")
    return seed


def test_the_seed_is_copied_into_numba_cache_dir(tmp_path):
    seed, target = _seed_dir(tmp_path), tmp_path / "cache"
    env = {kernel_cache.SEED_ENV: str(seed), "NUMBA_CACHE_DIR": str(target)}
    assert kernel_cache.seed(env) == 3
    assert _tree(target) == _tree(seed)
    stamp = (seed / "top.nbi").stat().st_mtime
    assert (target / "top.nbi").stat().st_mtime == stamp  # copied with its time stamp
    assert kernel_cache.seed(env) == 0  # a second start copies nothing


def test_files_already_in_the_cache_are_kept(tmp_path):
    seed, target = _seed_dir(tmp_path), tmp_path / "cache"
    (target / "losses_abc").mkdir(parents=True)
    (target / "losses_abc" / "ce_kernels.prepare-1.py311.nbi").write_bytes(b"newer")
    env = {kernel_cache.SEED_ENV: str(seed), "NUMBA_CACHE_DIR": str(target)}
    assert kernel_cache.seed(env) == 2
    assert (target / "losses_abc" / "ce_kernels.prepare-1.py311.nbi").read_bytes() == b"newer"


@pytest.mark.parametrize("env", [
    {},
    {"NUMBA_CACHE_DIR": "CACHE"},
    {kernel_cache.SEED_ENV: "SEED"},
    {kernel_cache.SEED_ENV: "MISSING", "NUMBA_CACHE_DIR": "CACHE"},
])
def test_nothing_happens_without_both_paths(tmp_path, env):
    _seed_dir(tmp_path)
    paths = {"CACHE": tmp_path / "cache", "SEED": tmp_path / "seed",
             "MISSING": tmp_path / "missing"}
    env = {k: str(paths[v]) for k, v in env.items()}
    assert kernel_cache.seed(env) == 0
    assert not (tmp_path / "cache").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_an_unwritable_cache_dir_is_a_warning_not_a_failure(tmp_path, caplog):
    seed, target = _seed_dir(tmp_path), tmp_path / "cache"
    target.mkdir()
    target.chmod(0o500)
    env = {kernel_cache.SEED_ENV: str(seed), "NUMBA_CACHE_DIR": str(target)}
    try:
        with caplog.at_level(logging.WARNING, "service.kernel_cache"):
            assert kernel_cache.seed(env) == 0
    finally:
        target.chmod(0o700)
    assert "could not seed the kernel cache" in caplog.text


def test_a_file_where_the_cache_dir_should_be_is_a_warning(tmp_path, caplog):
    # the same failure path as a read-only cache directory, also when tests run as root
    seed, target = _seed_dir(tmp_path), tmp_path / "cache"
    target.write_bytes(b"not a directory")
    env = {kernel_cache.SEED_ENV: str(seed), "NUMBA_CACHE_DIR": str(target)}
    with caplog.at_level(logging.WARNING, "service.kernel_cache"):
        assert kernel_cache.seed(env) == 0
    assert "could not seed the kernel cache" in caplog.text
