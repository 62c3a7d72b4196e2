#!/bin/sh
# Builds elastic_link_op.so beside this script (or at LIBRARY) against the installed
# TensorFlow pip package; the compiler and flags are fused_link.py's (build).
#   sh benchmarks/fused_link/build.sh [python] [LIBRARY]
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${1:-/work/main/.venv/bin/python}
if [ $# -gt 0 ]; then shift; fi
exec "$PYTHON" "$HERE/fused_link.py" "$@"
