"""``python -m service.autograder run|init|check ...``: the autograder's commands without the
server's imports (uvicorn, FastAPI), which the platform bundles do not install."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
