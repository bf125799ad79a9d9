"""Shared paths and helpers for the autograder tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from service.autograder.assignment import Assignment, Limits, load

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "autograder"
SOLUTIONS = EXAMPLE / "solutions"


@pytest.fixture(scope="session")
def example() -> Assignment:
    """The example assignment, with a 1 s call limit so the endless loop costs little."""
    a = load(EXAMPLE / "assignment.toml")
    return dataclasses.replace(a, limits=Limits(timeout_s=1.0, memory_mb=a.limits.memory_mb))
