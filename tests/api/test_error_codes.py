"""The registry of error codes (service/error_codes.py, which docs/errors.md is generated from)
lists exactly the codes the service raises, with the statuses it answers them with."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from service.api.problems import STATUS_BY_CODE
from service.error_codes import CODES, ERROR_CODES

SERVICE = Path(__file__).resolve().parents[2] / "service"
REGISTRY = SERVICE / "error_codes.py"
CODE = re.compile(r"^[a-z]+(?:_[a-z0-9]+)+$|^[a-z]+$")


def _strings(node: ast.AST) -> list[str]:
    """The string constants ``node`` may evaluate to (a constant, or either side of an ``if``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def _name(func: ast.AST) -> str:
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def raised_codes() -> dict[str, set[str]]:
    """Code -> where: every place in service/ that names an error code the way the code does it
    today: ``code = "..."`` in an exception class, ``code="..."`` keywords, the first argument of
    an ``...Error(...)`` or ``problem_body(...)`` call, the second of ``problem_bytes(...)``, the
    strings a ``_code_for``-like function returns, ``(code, message, loc)`` tuples, and the
    ``*_CODES`` tables."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(SERVICE.rglob("*.py")):
        if path == REGISTRY:
            continue
        where = str(path.relative_to(SERVICE.parent))
        for node in ast.walk(ast.parse(path.read_text())):
            hits: list[str] = []
            if isinstance(node, ast.ClassDef):
                for st in node.body:
                    targets = st.targets if isinstance(st, ast.Assign) else (
                        [st.target] if isinstance(st, ast.AnnAssign) else [])
                    if any(getattr(t, "id", None) == "code" for t in targets) and st.value:
                        hits += _strings(st.value)
            elif isinstance(node, ast.Call):
                name = _name(node.func)
                if (name.endswith("Error") or name == "problem_body") and node.args:
                    hits += _strings(node.args[0])
                if name == "problem_bytes" and len(node.args) > 1:  # (path, code, ...)
                    hits += _strings(node.args[1])
                hits += [s for kw in node.keywords if kw.arg == "code" for s in _strings(kw.value)]
                if name == "get" and "CODES" in ast.unparse(node.func) and len(node.args) == 2:
                    hits += _strings(node.args[1])
            elif isinstance(node, ast.FunctionDef) and "code" in node.name:
                hits += [s for sub in ast.walk(node) if isinstance(sub, ast.Return) and sub.value
                         for s in _strings(sub.value)]
            elif (isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple)
                  and len(node.value.elts) == 3):
                hits += _strings(node.value.elts[0])
            elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                  and any("CODE" in getattr(t, "id", "") for t in node.targets)):
                hits += [s for part in (*node.value.keys, *node.value.values) if part
                         for s in _strings(part)]
            for code in hits:
                if CODE.match(code):
                    found[code].add(where)
    return found


def test_the_scan_sees_the_known_places():
    found = raised_codes()
    # one code from each kind of place the scan reads, so that a scan broken by a refactor fails
    for code in ("shape_mismatch", "invalid_json", "too_deep", "unknown_field", "not_found",
                 "http_error", "unauthorized", "backend_busy", "case_too_large", "missing_field"):
        assert code in found, code


def test_every_raised_code_is_in_the_registry():
    missing = {code: sorted(where) for code, where in raised_codes().items() if code not in CODES}
    assert not missing, f"codes raised but missing from service/error_codes.py: {missing}"


def test_every_registered_code_is_raised_somewhere():
    text = "\n".join(p.read_text() for p in SERVICE.rglob("*.py") if p != REGISTRY)
    stale = [code for code in sorted(CODES) if f'"{code}"' not in text]
    assert not stale, f"codes in service/error_codes.py that nothing raises: {stale}"


def test_statuses_agree_with_the_problem_layer():
    statuses: dict[str, set[int | None]] = defaultdict(set)
    for e in ERROR_CODES:
        statuses[e.code].add(e.status)
    for code, status in STATUS_BY_CODE.items():
        assert status in statuses[code], (code, status, statuses[code])
    for code, listed in statuses.items():
        if code not in STATUS_BY_CODE and code not in ("unauthorized", "http_error"):
            assert listed == {422}, (code, listed)  # ProblemError's default for other codes


def test_entries_are_unique_and_described():
    pairs = [(e.status, e.code) for e in ERROR_CODES]
    assert len(pairs) == len(set(pairs))
    assert all(e.meaning and not e.meaning.endswith(".") for e in ERROR_CODES)
