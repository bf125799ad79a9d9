#!/usr/bin/env bash
# Everything the GPU backend must show on a CUDA device, in one run (a lent GPU is scarce, so this
# is one prepared command): the device and CuPy versions; the core's cupy-parametrized tests and
# the device tests of the service (tests/api/test_gpu_device.py) with the backend tests; a live
# server started with LOSS_SERVICE_BACKEND=cupy answering one request; then bench/gpu.py in float64
# and float32 (its crossover is LOSS_SERVICE_GPU_MIN_ELEMENTS). Each step has its own time limit so
# that a hung step cannot eat the others' time; every log lands in OUTDIR.
#
#     bash bench/gpu_check.sh [OUTDIR]        # run from the repository root, with CuPy installed
#
# Needs the service's dependencies importable (pip install '.[test,gpu]', or PYTHONPATH).
set -uo pipefail
out=${1:-${OUT:-/tmp/gpu-check}}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
step() { echo; echo "=== $1 ($(date +%T))"; }

step "device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
python3 - <<'EOF' 2>&1
import cupy, numpy, sys
print("python", sys.version.split()[0], "cupy", cupy.__version__, "numpy", numpy.__version__,
      "CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
      "driver", cupy.cuda.runtime.driverGetVersion())
from service.backends import availability
print("availability", availability())
EOF

step "tests (cupy namespace, device tests, backend tests)"
# LOSS_SERVICE_FUSED=false: the NumPy reference is the plain path (no numba compile on the device)
LOSS_SERVICE_FUSED=false timeout 200 python3 -m pytest -q -p no:cacheprovider \
    -o addopts="-ra --strict-markers" -W error \
    tests/api/test_gpu_device.py tests/api/test_backends.py tests/api/test_catalog_and_health.py \
    tests/losses -k "cupy or test_gpu_device or test_backends or test_catalog_and_health" \
    --junitxml="$out/junit.xml" 2>&1 | tee "$out/pytest.log" | tail -n 60
echo "pytest exit: ${PIPESTATUS[0]}"

step "live server, LOSS_SERVICE_BACKEND=cupy"
LOSS_SERVICE_BACKEND=cupy LOSS_SERVICE_FUSED=false LOSS_SERVICE_LOG_LEVEL=warning \
    python3 -c "from service.cli import main; main(['serve', '--port', '8765'])" \
    >"$out/server.log" 2>&1 &
server=$!
for _ in $(seq 120); do
    curl -sf http://127.0.0.1:8765/readyz >/dev/null && break
    sleep 0.5
done
curl -s http://127.0.0.1:8765/readyz; echo
curl -s -X POST http://127.0.0.1:8765/gradient/cross_entropy -H 'Content-Type: application/json' \
    -d '{"predictions": [[1.0, 2.0, 0.5], [0.1, 0.2, 0.3]], "targets": [0, 2]}'; echo
kill "$server"; wait "$server" 2>/dev/null
tail -n 5 "$out/server.log"

step "bench/gpu.py float64"
timeout 150 python3 -m bench.gpu 2>&1 | tee "$out/bench_gpu_float64.txt"
step "bench/gpu.py float64, one copy thread"
timeout 60 python3 -m bench.gpu --sizes 1e6,1e7,1e8 --copy-threads 1 2>&1 \
    | tee "$out/bench_gpu_float64_1thread.txt"
step "bench/gpu.py float32"
timeout 45 python3 -m bench.gpu --dtype float32 --sizes 1e4,1e5,1e6,1e7,1e8 2>&1 \
    | tee "$out/bench_gpu_float32.txt"
step "done"
