#!/bin/sh
# Builds elastic_link_op.so beside this script (or at LIBRARY) against the installed
# TensorFlow pip package; the compiler and flags are fused_link.py's (build).
#   sh benchmarks/fused_link/build.sh [python] [LIBRARY]   (python: the one on PATH by default)
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${1:-python}
if [ $# -gt 0 ]; then shift; fi
exec "$PYTHON" "$HERE/fused_link.py" "$@"
