"""``python -m bench <suite> [options]``: core, kernels, transport, small, memory, load or all;
``python -m bench versus REF SUITE`` runs a suite on the tree at REF and on this one, interleaved.

See bench/README.md.

``python -m bench <suite> --help`` lists a suite's options; ``--quick`` shortens any suite.
``python -m bench.gpu`` is the NumPy/CuPy comparison (needs a CUDA device).
"""

from __future__ import annotations

import importlib
import sys

SUITES = ("core", "kernels", "transport", "small", "memory", "load")


def main(argv: list[str]) -> int:
    if argv and argv[0] == "versus":
        return importlib.import_module("bench.versus").run(argv[1:])
    if not argv or argv[0] not in (*SUITES, "all"):
        print(__doc__)
        return 2
    suite, rest = argv[0], argv[1:]
    names = SUITES if suite == "all" else (suite,)
    status = 0
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        status |= module.run(rest)
        sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
