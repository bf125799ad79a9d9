"""The registry as plain JSON-ready data: what ``GET /losses`` returns and docs/losses.md shows."""

from __future__ import annotations

from typing import Any

from .registry import LOSSES, SPECS
from .spec import BROADCASTING, INPUT_KINDS, LossSpec, ParamSpec


def describe(spec: LossSpec) -> dict[str, Any]:
    """One loss, fully described."""
    return {
        "name": spec.name,
        "aliases": list(spec.aliases),
        "family": spec.family,
        "summary": spec.summary,
        "inputs": [
            {
                "name": i.name,
                "kind": i.kind,
                "meaning": INPUT_KINDS[i.kind],
                "description": i.description,
                "shape": i.shape,
                "dtype": i.dtype,
                "differentiable": i.differentiable,
                "grad_on_request": i.grad_on_request,
                "optional": i.optional,
            }
            for i in spec.inputs
        ],
        "shapes": shapes_in_words(spec),
        "broadcasting": BROADCASTING,
        "params": {p.name: p.json_schema() for p in spec.params},
        "conventions": [
            {"name": c.name, "default": i == 0, "reference": c.reference, "changes": c.changes}
            for i, c in enumerate(spec.conventions)
        ],
        "reductions": list(spec.reductions),
        "default_reduction": spec.default_reduction,
        "differentiable": spec.differentiable,
        # what a /gradient request's wrt may name (default: the differentiable inputs)
        "wrt": list(spec.wrt_inputs),
        "formula": spec.formula,
        "gradient": spec.gradient_note,
        "notes": spec.notes,
        "reference": spec.reference,
        "torch_equivalent": spec.torch_equivalent,
        "properties": {
            "nonnegative": spec.nonnegative,
            "zero_at_match": spec.zero_at_match,
            "shift_invariant": spec.shift_invariant,
        },
        "examples": [
            {"summary": e.summary, "inputs": dict(e.inputs), "params": dict(e.params),
             "reduction": e.reduction}
            for e in spec.examples
        ],
    }


def shapes_in_words(spec: LossSpec) -> str:
    """Every input's accepted shapes in one line, from the inputs' own ``shape``."""
    return "; ".join(f"{i.name}: {i.shape}{' (optional)' if i.optional else ''}"
                     for i in spec.inputs)


def catalog() -> list[dict[str, Any]]:
    """Every loss, in registry order."""
    return [describe(s) for s in SPECS]


def _param_cell(p: ParamSpec) -> str:
    if p.name == "convention":
        return f"`convention`={p.default!r} ({' / '.join(p.choices)})"
    return f"`{p.name}`={p.default!r}"


def markdown_table() -> str:
    """docs/losses.md's table of losses (generated; a test checks the page is current)."""
    rows = ["| loss | aliases | family | inputs | parameters (defaults) | gradient |",
            "| --- | --- | --- | --- | --- | --- |"]
    for s in LOSSES.values():
        inputs = ", ".join(f"`{i.name}`" for i in s.inputs)
        params = ", ".join(_param_cell(p) for p in s.params) or "-"
        aliases = ", ".join(f"`{a}`" for a in s.aliases) or "-"
        grad = ", ".join(s.differentiable_inputs) if s.differentiable else "no"
        extra = [n for n in s.wrt_inputs if n not in s.differentiable_inputs]
        if extra:
            grad += f" (wrt: also {', '.join(extra)})"
        rows.append(f"| `{s.name}` | {aliases} | {s.family} | {inputs} | {params} | {grad} |")
    return "\n".join(rows)


def conventions_table() -> str:
    """docs/losses.md's table of library conventions per loss (generated and checked likewise)."""
    rows = ["| loss | convention | reproduces | what it changes |", "| --- | --- | --- | --- |"]
    for s in LOSSES.values():
        for i, c in enumerate(s.conventions):
            name = f"`{c.name}` (default)" if i == 0 else f"`{c.name}`"
            changes = c.changes.replace("|", "\\|")
            rows.append(f"| `{s.name}` | {name} | {c.reference} | {changes} |")
    return "\n".join(rows)
