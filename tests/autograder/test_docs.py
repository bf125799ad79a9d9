"""The README's five-minute section shows the real ``loss-service check`` output, and the guide
(docs/autograder.md) is linked and lists every example solution."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import EXAMPLE, ROOT, SOLUTIONS

README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "autograder.md"


def test_the_readme_shows_the_real_check_output():
    text = README.read_text()
    section = text[text.index("\n## Autograding in five minutes\n"):]
    section = section[:section.index("\n## ", 1)]
    block = section[section.index("```console\n$ ") + len("```console\n$ "):]
    block = block[:block.index("\n```")]
    command, *shown = block.splitlines()
    args = command.split()
    assert args[:2] == ["loss-service", "check"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}  # this checkout's service
    out = subprocess.run([sys.executable, "-m", "service.cli", *args[1:]], capture_output=True,
                         text=True, cwd=EXAMPLE, timeout=120, env=env)
    real = out.stdout.splitlines()
    assert out.returncode == 1
    cut = shown.index("...")
    start = real.index(shown[0])
    assert real[start:start + cut] == shown[:cut] and real[-1] == shown[-1]
    assert "[docs/autograder.md](docs/autograder.md)" in text


def test_the_guide_is_linked_and_covers_every_example():
    guide = GUIDE.read_text()
    assert "(autograder.md)" in (ROOT / "docs" / "grading.md").read_text()
    for path in SOLUTIONS.glob("*.py"):
        assert f"`{path.name}`" in guide, path.name
