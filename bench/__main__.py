"""``python -m bench <suite> [options]``: core, transport, small, memory, load or all.

See bench/README.md.

``python -m bench <suite> --help`` lists a suite's options; ``--quick`` shortens any suite.
``python -m bench.gpu`` is the NumPy/CuPy comparison (needs a CUDA device).
"""

from __future__ import annotations

import importlib
import sys

SUITES = ("core", "transport", "small", "memory", "load")


def main(argv: list[str]) -> int:
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
