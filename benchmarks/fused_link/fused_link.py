"""The fused Elastic-Link training sum (``elastic_link_op.cc``) as a drop-in for
``el_zoo.layers.linked_sum_for_training``: a feasibility measurement, not a feature.

Build the op first: ``sh benchmarks/fused_link/build.sh`` (``build``). Then

    from fused_link import fused_linked_sum_for_training, patched

``patched()`` swaps it into ``el_zoo.layers`` (where ``ElasticLink.call`` looks it up) for
models built and traced inside the ``with``. The op library is loaded on first use
(``load``), from ``LIBRARY`` unless ``load`` was given another file first.
"""

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

import el_zoo  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

import tensorflow as tf
from el_zoo import layers
from el_zoo.layers import squeeze_spatial

SOURCE = Path(__file__).with_name("elastic_link_op.cc")
LIBRARY = SOURCE.with_suffix(".so")
BUILD_COMMAND = "sh benchmarks/fused_link/build.sh"
# -O3, no -march=native: the machines differ (some are AVX2-only AMD)
COMPILER_FLAGS = ("-O3", "-shared", "-fPIC")

_loaded = {}


class BuildError(RuntimeError):
    """The op library could not be built: no C++ compiler, or the compiler failed."""


def build(library=LIBRARY, compiler="g++"):
    """Compiles ``SOURCE`` into the op library ``library`` with ``compiler``
    (``COMPILER_FLAGS`` and TensorFlow's own ``tf.sysconfig`` flags); returns its path.

    Raises BuildError, naming the problem and the fix, when the compiler is missing or fails.

    Example:
        ```python
        build(tmp_path / "elastic_link_op.so")
        ```
    """
    found = shutil.which(compiler)
    if found is None:
        raise BuildError(f"no C++ compiler: {compiler} is not on PATH. Install one (e.g. "
                         f"apt-get install g++), then run {BUILD_COMMAND}.")
    command = [found, *COMPILER_FLAGS, str(SOURCE), "-o", str(library),
               *tf.sysconfig.get_compile_flags(), *tf.sysconfig.get_link_flags()]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"building {library} failed:\n  {' '.join(command)}\n"
                         f"{result.stderr[-3000:]}\nThe op needs a C++17 compiler and the "
                         f"headers of the installed TensorFlow ({tf.__version__}, "
                         "tf.sysconfig.get_include()); fix the error above and build again.")
    return Path(library)


def load(library=LIBRARY):
    """The op module of ``library`` (``tf.load_op_library``), loaded once per process: the
    first call's file is the one every later call gets.

    Raises SystemExit with the build command when the file is missing or older than
    ``SOURCE``.
    """
    if "ops" not in _loaded:
        library = Path(library)
        if not library.is_file():
            raise SystemExit(f"{library} is missing: run {BUILD_COMMAND} first")
        if library.stat().st_mtime < SOURCE.stat().st_mtime:
            raise SystemExit(f"{library} is older than {SOURCE.name}: run {BUILD_COMMAND}")
        _loaded["ops"] = tf.load_op_library(str(library))
    return _loaded["ops"]


@tf.RegisterGradient("ElasticLinkSum")
def _elastic_link_sum_grad(op, dy):
    """conv_out's gradient is dy itself; x's and gamma's come from one fused pass."""
    grad_x, grad_gamma = load().elastic_link_sum_grad(dy, op.inputs[1], op.inputs[2])
    return dy, grad_x, grad_gamma


def fused_linked_sum_for_training(conv_out, x_real, gamma, stride, channels_out):
    """``linked_sum_for_training`` with the channel match, gamma and add in one fused op
    (and its gradient in one more); the stride-2 spatial Squeeze stays a TF avg pool.

    Arguments: those of ``el_zoo.layers.linked_sum_for_training``.

    Example:
        ```python
        y = fused_linked_sum_for_training(conv_out, x, link.gamma, 1, 64)
        ```
    """
    x = squeeze_spatial(x_real, stride)
    gamma = tf.broadcast_to(tf.convert_to_tensor(gamma, conv_out.dtype), [channels_out])
    return load().elastic_link_sum(conv_out, x, gamma)


@contextlib.contextmanager
def patched(form=fused_linked_sum_for_training):
    """Within the ``with``, ``ElasticLink`` trains through ``form`` (the fused op)."""
    original = layers.linked_sum_for_training
    layers.linked_sum_for_training = form
    try:
        yield
    finally:
        layers.linked_sum_for_training = original


if __name__ == "__main__":  # build.sh: python fused_link.py [LIBRARY]
    try:
        print(f"built {build(*sys.argv[1:2])}")
    except BuildError as error:
        sys.exit(str(error))
