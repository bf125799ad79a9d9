"""The instructors' guide (docs/grading.md) stays true: its worked example's response is what the
service answers today (up to the last bits of the floats, which other changes to the core may
move), and it documents every mistake code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.api.compare_body import grade_body
from service.config import Settings
from service.grading import CODES

NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")


def _same(shown: object, answer: object, where: str = "") -> None:
    """Equal structure and text; floats (and the numbers inside text) equal to 1e-9."""
    if isinstance(shown, dict):
        assert isinstance(answer, dict) and set(shown) == set(answer), where
        for k in shown:
            _same(shown[k], answer[k], f"{where}.{k}")
    elif isinstance(shown, list):
        assert isinstance(answer, list) and len(shown) == len(answer), where
        for i, (a, b) in enumerate(zip(shown, answer, strict=True)):
            _same(a, b, f"{where}[{i}]")
    elif isinstance(shown, float) and isinstance(answer, float):
        assert answer == pytest.approx(shown, rel=1e-9, abs=1e-12), where
    elif isinstance(shown, str) and isinstance(answer, str):
        assert NUMBER.sub("#", shown) == NUMBER.sub("#", answer), where
        for a, b in zip(NUMBER.findall(shown), NUMBER.findall(answer), strict=True):
            assert float(b) == pytest.approx(float(a), rel=1e-5, abs=1e-12), where
    else:
        assert shown == answer, where

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "grading.md"


def _section(heading: str) -> str:
    """The guide's section under ``## heading``, up to the next ``## ``."""
    text = GUIDE.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_the_worked_example_is_the_real_response():
    block = _section("A worked example")
    block = block[block.index("```console"):]
    block = block[:block.index("\n```\n")]
    request = re.search(r"-d '(\{.*?\})' \|", block, re.S).group(1)
    shown = json.loads(block[block.index("\n{"):])
    answer = json.loads(json.dumps(grade_body(json.loads(request), Settings())))
    for doc in (shown, answer):  # what differs between installs, not between answers
        doc["provenance"].pop("version")
        doc["provenance"].pop("numpy")
    _same(shown, answer)
    assert shown["diagnosis"][0]["code"] == "sum_instead_of_mean"


def test_every_code_is_documented():
    section = _section("Diagnosis")
    assert [c for c in CODES if f"`{c}`" not in section] == []
