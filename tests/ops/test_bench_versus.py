"""``bench versus`` reads the rows the suites print and calls a row slower only when it is."""

from __future__ import annotations

from bench.versus import parse_rows, verdict

CORE = """\
# bench core: python -m bench core --quick
family               C    N*C dtype    ours fwd  ours f+g  ours v+g   ps x torch1 f+g      exp
cross_entropy       10  1e+05 float64     0.212     0.270     0.279  0.97x       1.05    0.150
mse                  -  1e+06 float32      0.41      0.52      0.33  1.58x       2.10     0.91
targets: 3 of 4 PASS
"""

TRANSPORT = """\
 values encoding  body MB  lower bd       e2e  e2e/lb     naive naive/e2e  verdict
  1e+03 nested       0.03     0.081     0.412   5.09x      1.20      2.9x  short of target
  1e+06 data        19.83       168       148   0.88x         -         -  PASS
  1e+06 binary      12.00      6.10      8.75   1.43x         -     1.33x  b64/bin 1.33x
"""


def test_core_rows_are_read_with_their_three_timings() -> None:
    rows = parse_rows("core", CORE)
    assert rows == {("cross_entropy", "10", "1e+05", "float64"):
                    {"fwd": 0.212, "f+g": 0.270, "v+g": 0.279},
                    ("mse", "-", "1e+06", "float32"): {"fwd": 0.41, "f+g": 0.52, "v+g": 0.33}}


def test_transport_rows_are_read_per_size_and_encoding() -> None:
    rows = parse_rows("transport", TRANSPORT)
    assert rows == {("1e+03", "nested"): {"lower bd": 0.081, "e2e": 0.412},
                    ("1e+06", "data"): {"lower bd": 168.0, "e2e": 148.0},
                    ("1e+06", "binary"): {"lower bd": 6.10, "e2e": 8.75}}


def test_slower_only_when_every_run_is_slower_by_more_than_the_margin() -> None:
    assert verdict([1.0, 1.1, 1.05], [1.2, 1.25, 1.3]) == "slower"
    assert verdict([1.0, 1.1, 1.05], [1.06, 1.25, 1.3]) == "same"  # overlaps a before run
    assert verdict([1.0, 1.01, 1.02], [1.05, 1.06, 1.07]) == "same"  # within 10 %
    assert verdict([1.2, 1.25, 1.3], [1.0, 1.1, 1.05]) == "faster"
