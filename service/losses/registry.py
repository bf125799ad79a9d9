"""The registry: every loss, looked up by canonical name or alias.

Family modules each export ``SPECS``; this module gathers them, checks that names and aliases are
unique, and resolves names (case-insensitive, ``-`` and ``_`` interchangeable) with suggestions for
unknown ones.
"""

from __future__ import annotations

import difflib

from . import (
    binary,
    contrastive,
    cosine_similarity,
    counts,
    cross_entropy_variants,
    ctc,
    deviance,
    distributions,
    embedding,
    gan,
    hinge_variants,
    keras_focal,
    linear,
    linear_softmax,
    multiclass,
    overlap,
    probability_cross_entropy,
    ranking,
    regression,
    robust_regression,
    sparsemax,
    triplet,
    triplet_distance,
)
from .errors import UnknownLoss
from .spec import LossSpec

FAMILIES: tuple[str, ...] = (
    "regression", "binary", "multiclass", "distribution", "embedding", "counts", "gan",
    "ranking", "segmentation", "sequence", "linear",
)

SPECS: tuple[LossSpec, ...] = (
    *regression.SPECS,
    *robust_regression.SPECS,
    *binary.SPECS,
    *multiclass.SPECS,
    *probability_cross_entropy.SPECS,
    *hinge_variants.SPECS,
    *keras_focal.SPECS,
    *cross_entropy_variants.SPECS,
    *sparsemax.SPECS,
    *distributions.SPECS,
    *triplet.SPECS,
    *embedding.SPECS,
    *triplet_distance.SPECS,
    *cosine_similarity.SPECS,
    *contrastive.SPECS,
    *ranking.SPECS,
    *overlap.SPECS,
    *counts.SPECS,
    *deviance.SPECS,
    *gan.SPECS,
    *ctc.SPECS,
    *linear.SPECS,
    *linear_softmax.SPECS,
)

LOSSES: dict[str, LossSpec] = {}
ALIASES: dict[str, str] = {}


def _register() -> None:
    for spec in SPECS:
        if spec.family not in FAMILIES:
            raise ValueError(f"{spec.name}: unknown family {spec.family!r}")
        for key in (spec.name, *spec.aliases):
            if key in LOSSES or key in ALIASES:
                raise ValueError(f"duplicate loss name or alias {key!r}")
        LOSSES[spec.name] = spec
        for alias in spec.aliases:
            ALIASES[alias] = spec.name


_register()


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def canonical_name(name: str) -> str:
    """The canonical name for ``name`` or one of its aliases; raises UnknownLoss."""
    key = _normalise(name)
    if key in LOSSES:
        return key
    if key in ALIASES:
        return ALIASES[key]
    choices = [*LOSSES, *ALIASES]
    close = difflib.get_close_matches(key, choices, n=3, cutoff=0.6)
    close += [c for c in choices if key and (key in c) and c not in close]
    suggestions = list(dict.fromkeys(ALIASES.get(c, c) for c in close))[:5]
    raise UnknownLoss(name, suggestions)


def get_loss(name: str) -> LossSpec:
    """The spec of loss ``name`` (canonical or alias); raises UnknownLoss with suggestions."""
    spec = LOSSES.get(name)  # the canonical name as given: no normalising
    return spec if spec is not None else LOSSES[canonical_name(name)]
