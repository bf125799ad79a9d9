"""versus: one suite on two versions of the tree, interleaved, row by row.

``python -m bench versus REF SUITE [suite options]``, e.g.
``python -m bench versus ff32bce core --quick --threads 1``.

Why it exists: a refactor must leave performance unchanged, and on a shared machine two runs made
minutes apart differ by more than most regressions. This checks the tree at ``REF`` out into a
temporary directory (``git archive``) and runs each tree's *own* ``python -m bench SUITE`` in a
subprocess (its own ``service`` and ``bench``, so a suite that imports internals still runs),
alternating ABBA for ``--rounds`` rounds, so both versions see the same minutes. It reads the
rows the suites print (core: ``ours fwd``, ``f+g``, ``v+g``; transport: ``lower bd``, ``e2e``)
and prints, per row and measure, the best time of each version over its runs, the ratio
now / before, and a verdict: ``slower`` only when every run of the working tree was slower than
every run of ``REF`` and by more than 10 %; ``faster`` the other way round; else ``same``
(within the noise of the runs themselves). Suites: core and transport.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from ._common import ROOT, header

# per suite: how to recognise a row, its key columns and its timed columns (index, name)
CORE_FAMILIES = ("cross_entropy", "bce_with_logits", "mse", "huber", "multi_margin",
                 "triplet_margin", "sigmoid_focal")
ENCODINGS = ("nested", "data", "flat", "b64", "binary")
MEASURES = {"core": ((4, "fwd"), (5, "f+g"), (6, "v+g")),
            "transport": ((3, "lower bd"), (4, "e2e"))}
MARGIN = 1.10  # a version is slower only when all of its runs are, and by more than this


def parse_rows(suite: str, text: str) -> dict[tuple[str, ...], dict[str, float]]:
    """``{row key: {measure: ms}}`` from a suite's printed table."""
    rows: dict[tuple[str, ...], dict[str, float]] = {}
    for line in text.splitlines():
        tokens = line.split()
        if suite == "core" and len(tokens) > 6 and tokens[0] in CORE_FAMILIES:
            key = tuple(tokens[:4])
        elif suite == "transport" and len(tokens) > 4 and tokens[1] in ENCODINGS:
            key = tuple(tokens[:2])
        else:
            continue
        try:
            rows[key] = {name: float(tokens[i]) for i, name in MEASURES[suite]}
        except ValueError:
            continue
    return rows


def checkout(ref: str, into: Path) -> None:
    """The tree at ``ref`` (committed files only) written into ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def run_suite(tree: Path, suite: str, args: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-m", "bench", suite, *args], cwd=tree, env=env,
                          capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: some target short, which is a result, not a failure
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"bench {suite} failed in {tree} (exit {done.returncode})")
    return done.stdout


def verdict(before: list[float], now: list[float]) -> str:
    if min(now) > max(before) and min(now) > MARGIN * min(before):
        return "slower"
    if max(now) < min(before) and MARGIN * min(now) < min(before):
        return "faster"
    return "same"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench versus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ref", help="the version to compare with (a commit, tag or branch)")
    parser.add_argument("suite", choices=sorted(MEASURES))
    parser.add_argument("--rounds", type=int, default=3, help="ABBA rounds (default 3)")
    args, suite_args = parser.parse_known_args(argv)
    header("versus", argv)
    runs: dict[str, list[dict[tuple[str, ...], dict[str, float]]]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="bench-versus-") as tmp:
        before = Path(tmp)
        checkout(args.ref, before)
        trees = {"before": before, "now": ROOT}
        for r in range(args.rounds):
            order = ("before", "now") if r % 2 == 0 else ("now", "before")
            for which in order:
                out = run_suite(trees[which], args.suite, suite_args)
                runs[which].append(parse_rows(args.suite, out))
                print(f"# round {r + 1}: {which} done ({len(runs[which][-1])} rows)", flush=True)
                if not runs[which][-1]:  # no table: show what the suite printed instead
                    print("\n".join("#   " + line for line in out.splitlines()[-15:]))
    keys = [k for k in runs["now"][0] if all(k in rows for rows in runs["before"] + runs["now"])]
    print(f"# {args.ref} (before) vs the working tree (now); best of {args.rounds} runs each, ms; "
          "ratio = now / before")
    counts: dict[str, int] = defaultdict(int)
    for key in keys:
        for _, name in MEASURES[args.suite]:
            b = [rows[key][name] for rows in runs["before"]]
            n = [rows[key][name] for rows in runs["now"]]
            v = verdict(b, n)
            counts[v] += 1
            print(f"{' '.join(key):40} {name:9} {min(b):>10.3f} {min(n):>10.3f} "
                  f"{min(n) / min(b):>6.2f}x  {v}")
    print("# " + ", ".join(f"{counts[v]} {v}" for v in ("same", "faster", "slower")))
    return 1 if counts["slower"] else 0
