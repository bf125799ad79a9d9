"""GAN losses on discriminator logits (Goodfellow et al. 2014, arXiv:1406.2661).

The minimax game is ``min_G max_D V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]`` with
``D = sigmoid(logit)``. Both losses take the discriminator's *logits* and use the stable identities
``-log sigmoid(l) = softplus(-l)`` and ``-log(1 - sigmoid(l)) = softplus(l)``, so logits of
+-1000 give finite, exact values and gradients.

* ``gan_discriminator``: ``-[log D(x) + log(1 - D(G(z)))]``, i.e. binary cross-entropy of the real
  logits against 1 plus that of the fake logits against 0;
* ``gan_generator``: the non-saturating ``-log D(G(z))`` (default) or the saturating minimax
  ``log(1 - D(G(z)))``, both minimised by the generator.
"""

from __future__ import annotations

from typing import Any

from . import _checks
from ._math import ns, sigmoid, softplus
from .spec import Array, Example, InputSpec, LossOutput, LossSpec, ParamSpec


def gan_discriminator(real: Array, fake: Array) -> LossOutput:
    """Discriminator loss of the original GAN, on logits, one term per (real, fake) pair.

    ``l_i = -log sigmoid(r_i) - log(1 - sigmoid(f_i)) = softplus(-r_i) + softplus(f_i)``;
    ``dl/dr = sigmoid(r) - 1 = -sigmoid(-r)`` and ``dl/df = sigmoid(f)``. Since both inputs have the
    same shape, ``mean`` equals ``mean_i BCE(r_i, 1) + mean_i BCE(f_i, 0)``.

    Args:
      real: [*] discriminator logits on real samples.
      fake: [*] discriminator logits on generated samples, same shape; ``fake[i]`` is paired with
        ``real[i]``.

    Returns:
      LossOutput with loss [*].

    References:
      Goodfellow et al. (2014), Generative Adversarial Nets, arXiv:1406.2661 (Algorithm 1).
    """
    _checks.same_shape(real, fake, "real", "fake")
    xp = ns(real, fake)
    loss = softplus(xp, -real) + softplus(xp, fake)
    g_real = -sigmoid(xp, -real)  # = sigmoid(r) - 1, without cancellation
    g_fake = sigmoid(xp, fake)
    return LossOutput(loss, lambda cot: {"real": g_real * cot, "fake": g_fake * cot})


def gan_generator(fake: Array, *, variant: str = "non_saturating") -> LossOutput:
    """Generator loss of the original GAN, on the discriminator's logits of generated samples.

    ``non_saturating``: ``l = -log sigmoid(f) = softplus(-f)``, ``dl/df = sigmoid(f) - 1``.
    ``saturating`` (the minimax form, minimised): ``l = log(1 - sigmoid(f)) = -softplus(f)``,
    ``dl/df = -sigmoid(f)``, which vanishes when the discriminator confidently rejects the fakes.

    Args:
      fake: [*] discriminator logits D(G(z)) on generated samples.
      variant: ``"non_saturating"`` or ``"saturating"``.

    Returns:
      LossOutput with loss [*].

    References:
      Goodfellow et al. (2014), Generative Adversarial Nets, arXiv:1406.2661 (Section 3).
    """
    xp = ns(fake)
    if variant == "saturating":
        loss = -softplus(xp, fake)
        grad = -sigmoid(xp, fake)
    else:
        loss = softplus(xp, -fake)
        grad = -sigmoid(xp, -fake)  # = sigmoid(f) - 1, without cancellation
    return LossOutput(loss, lambda cot: {"fake": grad * cot})


def _sample_discriminator(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"real": rng.normal(1.0, 2.0, size=(n,)), "fake": rng.normal(-1.0, 2.0, size=(n,))}, {}


def _sample_generator(rng: Any, n: int, c: int) -> tuple[dict[str, Any], dict[str, Any]]:
    variant = ("non_saturating", "saturating")[int(rng.integers(2))]
    return {"fake": rng.normal(-1.0, 2.0, size=(n,))}, {"variant": variant}


SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        name="gan_discriminator",
        fn=gan_discriminator,
        family="gan",
        summary="GAN discriminator loss: BCE of real logits against 1 plus fake logits against 0.",
        inputs=(
            InputSpec("real", "logits", "(*)",
                      "discriminator logits D on real samples (D(x) = sigmoid(real))",
                      differentiable=True),
            InputSpec("fake", "logits", "(*), same shape as real",
                      "discriminator logits on generated samples G(z), paired elementwise with "
                      "real", differentiable=True),
        ),
        formula=r"\ell = -\log\sigma(r) - \log\bigl(1 - \sigma(f)\bigr) = "
        r"\operatorname{softplus}(-r) + \operatorname{softplus}(f)",
        reference="Goodfellow et al. (2014), Generative Adversarial Nets, arXiv:1406.2661",
        sampler=_sample_discriminator,
        gradient_note=r"\partial\ell/\partial r = \sigma(r) - 1, "
        r"\partial\ell/\partial f = \sigma(f). Smooth: no kink; computed as -\sigma(-r) so it "
        "stays exact for large r.",
        notes="The negated inner objective log D(x) + log(1 - D(G(z))) of the minimax game. "
        "real[i] and fake[i] form one term, so both must have the same shape and the mean equals "
        "mean BCE(real, 1) + mean BCE(fake, 0) (torch: F.binary_cross_entropy_with_logits(real, "
        "ones) + F.binary_cross_entropy_with_logits(fake, zeros)). Some texts halve it; this "
        "service does not. Inputs are logits, not probabilities: pass log(p / (1 - p)) to use "
        "probabilities. Finite for logits of +-1000.",
        examples=(
            Example("a discriminator that mostly separates real from fake",
                    {"real": [2.0, -1.0, 0.5], "fake": [-3.0, 0.0, 1.5]}),
        ),
    ),
    LossSpec(
        name="gan_generator",
        fn=gan_generator,
        family="gan",
        summary="GAN generator loss: non-saturating -log D(G(z)) or saturating log(1 - D(G(z))).",
        inputs=(
            InputSpec("fake", "logits", "(*)",
                      "discriminator logits on generated samples (D(G(z)) = sigmoid(fake))",
                      differentiable=True),
        ),
        params=(
            ParamSpec("variant", "choice", "non_saturating",
                      "non_saturating: -log D(G(z)); saturating: log(1 - D(G(z))), the minimax "
                      "form (both minimised)",
                      choices=("non_saturating", "saturating")),
        ),
        formula=r"\ell = \begin{cases} -\log\sigma(f) = \operatorname{softplus}(-f) & "
        r"\text{non\_saturating} \\ \log\bigl(1 - \sigma(f)\bigr) = -\operatorname{softplus}(f) "
        r"& \text{saturating} \end{cases}",
        reference="Goodfellow et al. (2014), Generative Adversarial Nets, arXiv:1406.2661 "
        "(Section 3 proposes the non-saturating form)",
        sampler=_sample_generator,
        gradient_note=r"non_saturating: \partial\ell/\partial f = \sigma(f) - 1; saturating: "
        r"\partial\ell/\partial f = -\sigma(f), which vanishes when D confidently rejects "
        "the fakes (f -> -inf). Smooth: no kink.",
        notes="non_saturating equals F.binary_cross_entropy_with_logits(fake, ones). saturating "
        "is <= 0, so the loss is not non-negative; it equals -BCE(fake, 0). Inputs are logits; "
        "finite for +-1000.",
        nonnegative=False,
        examples=(
            Example("non-saturating (the default)", {"fake": [-2.0, 0.0, 1.0]}),
            Example("saturating minimax form", {"fake": [-2.0, 0.0, 1.0]},
                    {"variant": "saturating"}),
        ),
    ),
)
