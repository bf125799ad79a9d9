"""The data that describes a loss: its inputs, parameters, reductions, formula and kernel.

A loss is described once, as a :class:`LossSpec`. The HTTP routes, request models, OpenAPI
examples, the ``/losses`` catalog and the tables of docs/losses.md are all generated from these
objects, so everything here is plain data (plus the kernel and a sampler of valid inputs).

Kernel contract
---------------
``spec.fn(**inputs, **params) -> LossOutput``. Inputs arrive as arrays of one array-API namespace
(float inputs already in the computation dtype, class indices as integers); params arrive validated
with defaults filled in. The kernel checks shapes and domains, then returns

* ``loss``: the unreduced loss, with PyTorch's ``reduction='none'`` shape;
* ``vjp``: ``cotangent -> {input name: gradient}``, where ``cotangent`` has ``loss``'s shape and
  each gradient has its input's shape (``None`` for a non-differentiable loss): the gradients
  returned by default, those of the inputs marked ``differentiable``;
* ``extra_vjps``: ``{input name: cotangent -> gradient}`` for the inputs whose gradient is
  returned only when a request's ``wrt`` names them (``InputSpec.grad_on_request``: PyTorch
  differentiates them, e.g. regression targets). A kernel leaves a name out where these inputs
  or parameters have no gradient (integer class targets, a convention without one); asking for
  it is then an error located at ``wrt``;
* ``mean_weight``: optional per-element weights of the ``mean`` denominator (CrossEntropy/NLL with
  class weights or ignored targets divide by the sum of the target weights); ``None`` means each
  element counts once, i.e. ``mean`` divides by ``loss.size``.
* ``mean_scale``: optional per-element factors applied to the loss inside ``mean`` only (CTC's
  ``mean`` divides each sample's loss by its target length before averaging); ``None`` means 1.

Reduction, ``sample_weight`` and the per-sample breakdown happen in one place:
:func:`service.losses.reduce.reduce_loss`; its result, with the gradients, is an
:class:`Evaluation` (what :func:`service.losses.evaluate` and the kernels of
:mod:`service.losses.accel` return).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .warn import LossWarning

Array = Any  # an array of any array-API namespace (numpy, array_api_strict, cupy, torch)
Vjp = Callable[[Array], dict[str, Array]]

Reduction = Literal["none", "mean", "sum", "batchmean"]
REDUCTIONS: tuple[str, ...] = ("none", "mean", "sum", "batchmean")

# What an input holds; the catalog explains each to users.
INPUT_KINDS: dict[str, str] = {
    "logits": "unnormalised real scores, turned into probabilities by sigmoid or softmax",
    "probabilities": "probabilities in [0, 1]",
    "log_probabilities": "natural logarithms of probabilities (e.g. log_softmax outputs)",
    "scores": "raw real-valued scores or decision values",
    "values": "real-valued predictions or targets",
    "embeddings": "real-valued feature vectors, one row per sample",
    "class_indices": "integer class indices in [0, C)",
    "class_indices_or_probabilities": (
        "integer class indices in [0, C), or rows of class probabilities of the input's shape"
    ),
    "binary_labels": "labels in {0, 1} (soft labels in [0, 1] where the loss allows them)",
    "sign_labels": "labels in {-1, 1}",
    "probability_rows": "rows of probabilities, one row per sample, each summing to 1",
    "variances": "positive variances",
    "rates": "non-negative rates (or log-rates with log_input)",
    "counts": "non-negative counts or targets",
}

InputDtype = Literal["float", "int", "index_or_float"]

# What the catalog and the OpenAPI request models say about shapes besides each input's own
# ``shape`` (which lists every shape the input accepts, its broadcasting included).
BROADCASTING = (
    "Each input takes exactly the shapes listed for it (its `shape`); inputs are never "
    "broadcast against each other beyond that. sample_weight: one value >= 0 per sample (the "
    "first axis of the unreduced loss), broadcast over that sample's other elements.")


@dataclass(frozen=True)
class InputSpec:
    """One named input of a loss."""

    name: str
    kind: str  # a key of INPUT_KINDS
    shape: str  # human-readable, e.g. "(N, C) or (C,)"
    description: str
    dtype: InputDtype = "float"
    differentiable: bool = False  # its gradient is returned by default
    optional: bool = False
    # its gradient is returned only when a request's ``wrt`` names it (PyTorch differentiates
    # it, e.g. the targets of mse); the kernel's ``LossOutput.extra_vjps`` computes it
    grad_on_request: bool = False

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"unknown input kind {self.kind!r}")
        if self.grad_on_request and (self.differentiable or self.dtype == "int"):
            raise ValueError(f"{self.name}: grad_on_request is for float inputs that are not "
                             "differentiable by default")

    def requestable(self) -> InputSpec:
        """This input with ``grad_on_request`` set (a gradient when ``wrt`` names it)."""
        return replace(self, grad_on_request=True)


ParamType = Literal["float", "int", "bool", "choice", "float_array", "float_or_float_array",
                    "float_or_float_tensor"]

# A "float_or_float_tensor" parameter's JSON Schema: a number or a nested list of 1 to
# TENSOR_PARAM_DIMS dimensions, a choice and not a recursive schema (client generators refuse or
# mangle recursive array items; the request schemas' N-D inputs are written the same way). The
# core takes deeper nested lists too.
TENSOR_PARAM_DIMS = 5


def nested_list_schemas(leaf: dict[str, Any],
                        dims: int = TENSOR_PARAM_DIMS) -> list[dict[str, Any]]:
    """Array schemas of 1 to ``dims`` dimensions whose innermost items are ``leaf``."""
    out: list[dict[str, Any]] = []
    items = leaf
    for _ in range(dims):
        items = {"type": "array", "items": items}
        out.append(items)
    return out


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: type, default and valid range (stated as data, exported as JSON Schema)."""

    name: str
    type: ParamType
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[Any, ...] = ()
    nullable: bool = False  # ``None`` (JSON null) is a valid value, meaning "not given"
    extra_allowed: tuple[Any, ...] = ()  # values outside the range that are still valid (alpha=-1)
    # the range is what is expected, not what the library requires: a value outside it is a
    # warning (strict validation: an error), and the JSON Schema states no bound
    warn_outside_range: bool = False

    def range_words(self) -> str:
        """The valid range in words (``""`` when there is none), from the same fields as the
        schema's bounds: e.g. ``">= 0"``, ``"in (0, 1]"``, ``"each element >= 0"``."""
        lo, hi = self.minimum, self.maximum
        if lo is None and hi is None:
            return ""
        if lo is not None and hi is not None:
            words = (f"in {'(' if self.exclusive_minimum else '['}{lo:g}, "
                     f"{hi:g}{')' if self.exclusive_maximum else ']'}")
        elif lo is not None:
            words = f"{'>' if self.exclusive_minimum else '>='} {lo:g}"
        else:
            words = f"{'<' if self.exclusive_maximum else '<='} {hi:g}"
        words += "".join(f" or {e:g}" for e in self.extra_allowed)
        if self.type == "float_array":
            return f"each element {words}"
        if self.type == "float_or_float_array":
            return f"{words} for the number or each list element"
        if self.type == "float_or_float_tensor":
            return f"{words} for the number or each element of the nested list"
        return words

    @property
    def documented(self) -> str:
        """The description with the valid range in words (the catalog's and OpenAPI's)."""
        words = self.range_words()
        if words and self.warn_outside_range:
            return f"{self.description} (expected: {words}; other values get a warning)"
        return f"{self.description} (valid: {words})" if words else self.description

    def json_schema(self) -> dict[str, Any]:
        """The parameter as a JSON Schema fragment."""
        schema: dict[str, Any]
        if self.type == "float":
            schema = {"type": "number"}
        elif self.type == "int":
            schema = {"type": "integer"}
        elif self.type == "bool":
            schema = {"type": "boolean"}
        elif self.type == "choice":
            schema = {"enum": list(self.choices)}
        elif self.type == "float_array":
            schema = {"type": "array", "items": {"type": "number"}}
        elif self.type == "float_or_float_array":
            schema = {"anyOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]}
        else:  # float_or_float_tensor: leaves bounded below, through the nested items
            schema = {"anyOf": [{"type": "number"}]}
        bounds: dict[str, float] = {}
        if self.minimum is not None:
            bounds["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            bounds["exclusiveMaximum" if self.exclusive_maximum else "maximum"] = self.maximum
        if self.warn_outside_range:
            bounds = {}
        if bounds and self.type in ("float", "int"):
            schema.update(bounds)
        elif bounds and self.type == "float_array":
            schema["items"].update(bounds)
        elif bounds:  # float_or_float_array (_tensor): the number and each list element
            for branch in schema["anyOf"]:
                (branch["items"] if branch["type"] == "array" else branch).update(bounds)
        if self.type == "float_or_float_tensor":
            schema["anyOf"] += nested_list_schemas(dict(schema["anyOf"][0]))
        if self.extra_allowed:
            schema = {"anyOf": [schema, {"enum": list(self.extra_allowed)}]}
        if self.nullable:
            schema = {"anyOf": [schema, {"type": "null"}]}
        schema["default"] = self.default
        schema["description"] = self.documented
        return schema


# Library conventions a loss can reproduce (``convention`` parameter). "cs231n" is the course
# assignments' definition where it is none of the four libraries' (the multiclass SVM).
# "elementwise" is the form optax, scikit-learn and the course notes share where none of them
# alone is that majority (hinge: optax uses a 0 label as given, scikit-learn takes (n,) only;
# squared_hinge, which only Keras has, takes hinge's default squared).
CONVENTIONS: tuple[str, ...] = ("torch", "keras", "optax", "sklearn", "cs231n", "elementwise")


@dataclass(frozen=True)
class Convention:
    """How one library defines a loss, where libraries disagree.

    ``name`` is a key of :data:`CONVENTIONS`; ``reference`` the function whose numbers it
    reproduces; ``changes`` what differs, in words, from the loss's default convention.
    Two behaviours are generic and applied outside the kernel (:mod:`service.losses.evaluate`):

    * ``last_axis_mean``: Keras returns, per sample, the mean of the elementwise loss over the last
      axis (a 1-D input is one sample with N features);
    * ``weights_in_mean``: whether ``mean`` with ``sample_weight`` divides by the sum of the
      weights (a weighted average: PyTorch-style, scikit-learn's ``np.average``) or, ``False``, by
      the number of elements (Keras' ``sum_over_batch_size``).

    Everything else reaches the kernel as its ``convention`` keyword argument.
    """

    name: str
    reference: str
    changes: str
    last_axis_mean: bool = False
    weights_in_mean: bool = True

    def __post_init__(self) -> None:
        if self.name not in CONVENTIONS:
            raise ValueError(f"unknown convention {self.name!r}")


def keras_convention(reference: str, changes: str = "") -> Convention:
    """Keras' usual convention: mean over the last axis, weighted mean divided by the count."""
    generic = ("per-sample loss is the mean over the last axis (a 1-D input is one sample); "
               "mean with sample_weight divides by the number of samples, not by the weights' sum")
    return Convention("keras", reference, f"{changes}; {generic}" if changes else generic,
                      last_axis_mean=True, weights_in_mean=False)


@dataclass(frozen=True)
class LossOutput:
    """What a kernel returns; see the module docstring."""

    loss: Array
    vjp: Vjp | None = None
    extra_vjps: Mapping[str, Callable[[Array], Array]] = field(default_factory=dict)
    mean_weight: Array | None = None
    mean_scale: Array | None = None


@dataclass(frozen=True)
class Evaluation:
    """The result of one evaluation, as arrays of the inputs' namespace."""

    loss: str  # canonical name
    reduction: str
    value: Array  # 0-d, or the unreduced array for reduction "none"
    per_sample: Array | None  # (N,); None where the caller did not ask for it
    params: dict[str, Any]  # effective parameters, defaults included
    dtype: str
    gradients: dict[str, Array] | None = None  # input name -> gradient of the reduced value
    samples: int = -1  # N where per_sample is None
    # inputs computed on that look like mistakes (validate="lenient"); strict raises them
    warnings: tuple[LossWarning, ...] = ()

    @property
    def n_samples(self) -> int:
        return int(self.per_sample.shape[0]) if self.per_sample is not None else self.samples


@dataclass(frozen=True)
class Example:
    """A small worked request: inputs as nested lists, params, reduction. Used in docs and tests."""

    summary: str
    inputs: Mapping[str, Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    reduction: str = "mean"


# sampler(rng, n, c) -> (inputs as NumPy arrays, params): valid random inputs for tests,
# benchmarks and /cases. ``n`` is the batch size, ``c`` the number of classes or features.
Sampler = Callable[[Any, int, int], tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class LossSpec:
    """Everything known about one loss."""

    name: str
    fn: Callable[..., LossOutput]
    family: str  # regression | binary | multiclass | distribution | embedding | counts | gan
    summary: str
    inputs: tuple[InputSpec, ...]
    formula: str  # LaTeX of the unreduced (per-element or per-sample) loss
    reference: str
    sampler: Sampler
    params: tuple[ParamSpec, ...] = ()
    aliases: tuple[str, ...] = ()
    reductions: tuple[str, ...] = ("none", "mean", "sum")
    default_reduction: str = "mean"
    gradient_note: str = ""  # closed form and the subgradient chosen at kinks
    notes: str = ""  # deviations from / agreements with other libraries, edge cases
    torch_equivalent: str | None = None  # e.g. "torch.nn.functional.mse_loss"
    # properties tested once across the registry
    nonnegative: bool = True
    zero_at_match: bool = False  # loss is 0 when predictions == targets (regression losses)
    shift_invariant: bool = False  # unchanged when a constant is added to each row of logits
    # False where `mean` is not the plain element average even without class weights (CTC's
    # mean divides each sample by its target length first: LossOutput.mean_scale)
    mean_is_element_average: bool = True
    examples: tuple[Example, ...] = ()
    # the libraries whose numbers the loss reproduces, the default first; when given, the loss
    # takes a ``convention`` parameter (appended to ``params`` here)
    conventions: tuple[Convention, ...] = ()

    def __post_init__(self) -> None:
        if not self.conventions:
            return
        names = tuple(c.name for c in self.conventions)
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate conventions {names}")
        described = "; ".join(f"{c.name}: {c.reference}" for c in self.conventions)
        param = ParamSpec(
            "convention", "choice", names[0],
            f"Whose definition to reproduce ({described}). See the catalog entry's "
            "`conventions` for what each changes.",
            choices=names,
        )
        object.__setattr__(self, "params", (*self.params, param))

    def convention(self, name: str | None) -> Convention | None:
        """The convention ``name`` (the default for ``None``); ``None`` if the loss has none."""
        for c in self.conventions:
            if name is None or c.name == name:
                return c
        return None

    # cached (``inputs`` never changes): evaluate() reads them on every call
    @cached_property
    def differentiable_inputs(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs if i.differentiable)

    @cached_property
    def wrt_inputs(self) -> tuple[str, ...]:
        """The inputs a request's ``wrt`` may name: the differentiable ones and those with a
        gradient on request, in the order of ``inputs``."""
        return tuple(i.name for i in self.inputs if i.differentiable or i.grad_on_request)

    @cached_property
    def differentiable(self) -> bool:
        return bool(self.differentiable_inputs)

    @cached_property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}
