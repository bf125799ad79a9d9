"""(to be written)"""

from __future__ import annotations

from .spec import LossSpec

SPECS: tuple[LossSpec, ...] = ()
