#!/bin/sh
# Builds elastic_link_op.so beside this script against the installed TensorFlow pip package.
#   sh benchmarks/fused_link/build.sh [python]
# -O3, no -march=native: the machines differ (some are AVX2-only AMD).
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${1:-/work/main/.venv/bin/python}
TF_CFLAGS=$("$PYTHON" -c 'import tensorflow as tf; print(" ".join(tf.sysconfig.get_compile_flags()))' 2>/dev/null)
TF_LFLAGS=$("$PYTHON" -c 'import tensorflow as tf; print(" ".join(tf.sysconfig.get_link_flags()))' 2>/dev/null)
g++ -O3 -shared -fPIC "$HERE/elastic_link_op.cc" -o "$HERE/elastic_link_op.so" $TF_CFLAGS $TF_LFLAGS
echo "built $HERE/elastic_link_op.so"
