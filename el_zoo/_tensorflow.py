"""How el_zoo gets TensorFlow imported: with Keras 2 selected, and without its start-up noise.

This module must not import TensorFlow: ``import el_zoo`` runs it so that commands which
need no model (``el-zoo --help``, ``el-zoo list --pretrained``) start in a fraction of a
second, and TensorFlow loads only when something needs it.
"""

import contextlib
import importlib.util
import os
import re
import sys
import threading

# The values TensorFlow itself accepts as "use Keras 2 (tf_keras) for tf.keras".
LEGACY_KERAS_VALUES = ("true", "True", "1")

# TensorFlow 2.16's pip build registers its CUDA plugins twice and logs each second attempt
# as an error, even on a machine without a GPU. Nothing is wrong and a user can do nothing
# about it. TF_CPP_MIN_LOG_LEVEL=3 would hide every other C++ error too (and TensorFlow's C++
# logging caches the level at its first message, so it cannot be raised for the import only):
# el_zoo drops exactly these lines instead.
REGISTRATION_NOISE = re.compile(
    rb"Unable to register cu(FFT|DNN|BLAS) factory: Attempting to register factory for "
    rb"plugin cu\w+ when one has already been registered"
)

# What TensorFlow's TFLite converter (tf.lite.TFLiteConverter, el_zoo.benchmark.float_tflite)
# logs on every conversion of a SavedModel: options it ignores there, and absl's first line.
CONVERTER_NOISE = re.compile(
    rb"Ignored (output_format|drop_control_dependency)\.|All log messages before "
    rb"absl::InitializeLog\(\) is called are written to STDERR"
)


SET_LEGACY_KERAS = ("set the environment variable TF_USE_LEGACY_KERAS=1 before TensorFlow is "
                    "imported (`export TF_USE_LEGACY_KERAS=1`, or "
                    "os.environ['TF_USE_LEGACY_KERAS'] = '1' before `import tensorflow`)")


def keras_2_error(problem, fix=SET_LEGACY_KERAS):
    """The ImportError el_zoo raises when tf.keras is not (or cannot become) Keras 2."""
    return ImportError(
        f"el_zoo needs Keras 2 (the tf-keras package), but {problem}. Larq and Larq Compute "
        f"Engine only work with Keras 2. Fix: {fix}."
    )


def select_keras_2():
    """Makes the coming ``import tensorflow`` use Keras 2, or raises a clear ImportError when
    that is no longer possible (TensorFlow already imported with Keras 3) or was refused."""
    tensorflow = sys.modules.get("tensorflow")
    # TensorFlow decides between Keras 2 and 3 once, when it is imported; Larq then fails
    # deep inside (LegacyOptimizerWarning has no attribute 'iterations') if it chose 3.
    if tensorflow is not None and getattr(tensorflow, "_tf_uses_legacy_keras", True) is False:
        raise keras_2_error(
            "TensorFlow was imported before el_zoo without TF_USE_LEGACY_KERAS=1, so tf.keras "
            "is Keras 3 for the rest of this process",
            f"import el_zoo before tensorflow, or {SET_LEGACY_KERAS}",
        )
    value = os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if value not in LEGACY_KERAS_VALUES:
        raise keras_2_error(f"the environment sets TF_USE_LEGACY_KERAS={value}, which selects "
                            "Keras 3", "set TF_USE_LEGACY_KERAS=1, or unset it")


class _LinesWithout:
    """A pipe that stands in for a file descriptor and forwards each line written to it to
    ``target``, except lines matching ``pattern``; a thread forwards them as they come, so
    that nothing is lost if the process dies meanwhile."""

    def __init__(self, target, pattern):
        self.read_end, self.write_end = os.pipe()
        # the thread's own copy: the caller may close ``target`` before the thread ends
        self.target, self.pattern = os.dup(target), pattern
        self.thread = threading.Thread(target=self._forward, daemon=True)
        self.thread.start()

    def _forward(self):
        pending = b""
        with os.fdopen(self.read_end, "rb", buffering=0) as pipe:
            for chunk in iter(lambda: pipe.read(65536), b""):
                *lines, pending = (pending + chunk).split(b"\n")
                self._write(b"".join(line + b"\n" for line in lines
                                     if not self.pattern.search(line)))
        if pending and not self.pattern.search(pending):
            self._write(pending)
        os.close(self.target)

    def _write(self, data):
        while data:
            data = data[os.write(self.target, data):]

    def close(self):
        os.close(self.write_end)
        self.thread.join(timeout=10)


@contextlib.contextmanager
def stderr_without(pattern):
    """Drops lines matching ``pattern`` from what is written to file descriptor 2 (C++
    logging included) inside the block; everything else passes through unchanged."""
    _flush_python_stderr()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (a detached process): nothing to filter
        yield
        return
    lines = _LinesWithout(saved, pattern)
    os.dup2(lines.write_end, 2)
    try:
        yield
    finally:
        _flush_python_stderr()
        os.dup2(saved, 2)
        lines.close()
        os.close(saved)


def _flush_python_stderr():
    if sys.stderr is not None:
        sys.stderr.flush()


class _QuietLoader:
    """Runs the real loader of the ``tensorflow`` package with its registration noise dropped,
    then steps aside (the module's loader is the real one afterwards)."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        with stderr_without(REGISTRATION_NOISE):
            self.loader.exec_module(module)


class _QuietTensorFlowImport:
    """A sys.meta_path finder for the first ``import tensorflow``, wherever it happens
    (el_zoo's modules, Larq, the user's code): the other finders find TensorFlow as usual, and
    its import runs through ``_QuietLoader``. It removes itself on its first use."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_import():
    """Drops TensorFlow's harmless registration errors from its coming import (once)."""
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
