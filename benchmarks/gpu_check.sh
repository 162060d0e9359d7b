#!/usr/bin/env bash
# The device checks, in one script, for a machine with an NVIDIA GPU and CuPy (a few minutes):
#   1. the tests marked gpu (the same draws, first losses and gradients on CuPy and NumPy);
#   2. the default test run with CuPy as the backend (SCRATCHGEN_BACKEND=cupy), stopping after 20 failures;
#   3. the backend benchmark (NumPy against CuPy, and the host generator against cupy.random).
# It installs nothing: run it where numpy, cupy, pytest and hypothesis import
# (pip install -e ".[test,gpu]"). Every step runs; the exit status is 1 if any failed.
#   bash benchmarks/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
failed=""
step() {
    local name=$1
    shift
    echo "== $name"
    "$@" || failed="$failed; $name"
}
python -c "import cupy; print('cupy', cupy.__version__, 'devices', cupy.cuda.runtime.getDeviceCount())" || exit 1
step "tests marked gpu" python -m pytest -q -p no:cacheprovider -m gpu -rs tests
step "default tests on CuPy" env SCRATCHGEN_BACKEND=cupy python -m pytest -q -p no:cacheprovider --maxfail=20 tests
step "bench_backends" python benchmarks/bench_backends.py --steps 40
if [ -n "$failed" ]; then
    echo "failed:${failed#;}"
    exit 1
fi
echo "all steps passed"
