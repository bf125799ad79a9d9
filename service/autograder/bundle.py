"""``loss-service autograder init``: a ready-to-upload bundle for Gradescope or PrairieLearn.

Both bundles carry the assignment and a copy of this package's source (``service/``), so the
grader runs the very code the instructor checked locally, and call
``python -m service.autograder run`` (no server, no network at grading time).

* Gradescope (base image Ubuntu 22.04, whose Python is 3.10; this package needs 3.11+):
  ``setup.sh`` installs uv, a CPython 3.12 and a virtual environment with NumPy and
  array-api-compat pinned to the versions the bundle was made with (the same versions give the
  same ``/cases`` inputs); ``run_autograder`` grades ``/autograder/submission`` into
  ``/autograder/results/results.json``. ``autograder.zip`` holds both at its root.
* PrairieLearn (external grader image ``prairielearn/grader-python``, Python 3.13 with NumPy):
  a question directory (``info.json``, ``question.html``) whose ``tests/`` folder (mounted at
  ``/grade/tests``) holds ``run.sh``, the assignment and the source with array-api-compat
  vendored; ``run.sh`` grades ``/grade/student`` into ``/grade/results/results.json``.

The scripts read ``GRADER_ROOT`` (default ``/autograder`` or ``/grade``) and ``GRADER_PYTHON``,
so the same files run in a local directory laid out like the platform (the tests do).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
import uuid
import zipfile
from pathlib import Path

from .assignment import Assignment

PLATFORMS = ("gradescope", "prairielearn")
PYTHON_FOR_GRADESCOPE = "3.12"
PL_IMAGE = "prairielearn/grader-python"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image (Ubuntu 22.04, whose
# Python is 3.10; loss-service needs 3.11+): install uv, CPython {python} and a virtual
# environment with the versions the bundle was made with (same NumPy, same /cases inputs).
set -euo pipefail
apt-get update -qq && apt-get install -y -qq curl ca-certificates >/dev/null
curl -LsSf https://astral.sh/uv/install.sh | env UV_INSTALL_DIR=/usr/local/bin sh
export UV_PYTHON_INSTALL_DIR=/opt/uv-python
uv python install {python}
uv venv --python {python} /autograder/venv
uv pip install --python /autograder/venv/bin/python {requirements}
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission with the bundled
# loss-service into /autograder/results/results.json. GRADER_ROOT and GRADER_PYTHON let the
# same script run in a local directory laid out the same way.
set -euo pipefail
ROOT="${GRADER_ROOT:-/autograder}"
PY="${GRADER_PYTHON:-$ROOT/venv/bin/python}"
export PYTHONPATH="$ROOT/source/vendor"
exec "$PY" -m service.autograder run --assignment "$ROOT/source/assignment.toml" \\
  --submission "$ROOT/submission" --format gradescope --output "$ROOT/results/results.json"
"""

RUN_SH = """\
#!/usr/bin/env bash
# PrairieLearn's external grader runs this (info.json: entrypoint) in {image}: grade the
# student's files in /grade/student with the bundled loss-service into
# /grade/results/results.json. GRADER_ROOT and GRADER_PYTHON let it run locally too.
set -euo pipefail
ROOT="${{GRADER_ROOT:-/grade}}"
PY="${{GRADER_PYTHON:-python3}}"
export PYTHONPATH="$ROOT/tests/vendor"
exec "$PY" -m service.autograder run --assignment "$ROOT/tests/assignment.toml" \\
  --submission "$ROOT/student" --format prairielearn --output "$ROOT/results/results.json"
"""

QUESTION_HTML = """\
<pl-question-panel>
  <p><strong>{title}</strong>: upload {files}. Each function is called on the graded cases and
  compared with the reference (values and gradients); the feedback names the likely mistake.</p>
  <ul>
{items}
  </ul>
  <p>Check your code before submitting: <code>loss-service check {first} --assignment
  assignment.toml</code>.</p>
</pl-question-panel>
<pl-file-upload file-names="{names}"></pl-file-upload>
<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""


def _vendor(dest: Path, with_array_api_compat: bool) -> None:
    """Copy this package's source (and array-api-compat) under ``dest``."""
    package = Path(__file__).resolve().parents[1]
    shutil.copytree(package, dest / "service", ignore=IGNORE)
    if with_array_api_compat:
        spec = importlib.util.find_spec("array_api_compat")
        assert spec is not None and spec.origin is not None
        shutil.copytree(Path(spec.origin).parent, dest / "array_api_compat", ignore=IGNORE)


def _requirements() -> str:
    pins = []
    for dist in ("numpy", "array-api-compat"):
        try:
            pins.append(f"'{dist}=={importlib.metadata.version(dist)}'")
        except importlib.metadata.PackageNotFoundError:
            pins.append(dist)
    return " ".join(pins)


def _write(path: Path, text: str, *, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if executable:
        path.chmod(0o755)


def _zip(folder: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and f != target:
                info = zipfile.ZipInfo.from_file(f, f.relative_to(folder).as_posix())
                with f.open("rb") as src:
                    z.writestr(info, src.read(), zipfile.ZIP_DEFLATED)


def gradescope(assignment: Assignment, toml_text: str, out: Path) -> list[Path]:
    """The Gradescope bundle in ``out``; returns the files to upload."""
    _write(out / "setup.sh", SETUP_SH.format(python=PYTHON_FOR_GRADESCOPE,
                                             requirements=_requirements()), executable=True)
    _write(out / "run_autograder", RUN_AUTOGRADER, executable=True)
    _write(out / "assignment.toml", toml_text)
    _vendor(out / "vendor", with_array_api_compat=False)
    _zip(out, out / "autograder.zip")
    return [out / "autograder.zip"]


def prairielearn(assignment: Assignment, toml_text: str, out: Path) -> list[Path]:
    """The PrairieLearn question directory in ``out``; returns its main files."""
    files = list(assignment.files)
    timeout = int(30 + assignment.limits.timeout_s * sum(len(q.cases)
                                                         for q in assignment.questions))
    info = {"uuid": str(uuid.uuid4()), "title": assignment.title, "topic": "Loss functions",
            "tags": ["autograder", "loss-service"], "type": "v3", "singleVariant": True,
            "gradingMethod": "External",
            "externalGradingOptions": {"enabled": True, "image": PL_IMAGE,
                                       "entrypoint": "/grade/tests/run.sh",
                                       "timeout": timeout}}
    items = "\n".join(f"    <li>{q.name}: <code>{q.function}({', '.join(a.name for a in q.args)})"
                      f"</code> returns {', '.join(q.returns)} ({q.points:g} points)</li>"
                      for q in assignment.questions)
    _write(out / "info.json", json.dumps(info, indent=2) + "\n")
    _write(out / "question.html", QUESTION_HTML.format(
        title=assignment.title, files=", ".join(f"<code>{f}</code>" for f in files),
        items=items, first=files[0], names=" ".join(files)))
    _write(out / "tests" / "run.sh", RUN_SH.format(image=PL_IMAGE), executable=True)
    _write(out / "tests" / "assignment.toml", toml_text)
    _vendor(out / "tests" / "vendor", with_array_api_compat=True)
    return [out / "info.json", out / "question.html", out / "tests" / "run.sh"]


def init(assignment: Assignment, toml_text: str, out: Path, platform: str) -> list[Path]:
    """Write the ``platform`` bundle for ``assignment`` into ``out`` (created; must be empty)."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    make = gradescope if platform == "gradescope" else prairielearn
    return make(assignment, toml_text, out)
