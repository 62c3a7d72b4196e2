"""How el_zoo gets TensorFlow imported: with Keras 2 selected, without its start-up noise,
and with el_zoo's Keras layers registered as soon as it has loaded.

This module must not import TensorFlow: ``import el_zoo`` runs it so that commands which
need no model (``el-zoo --help``, ``el-zoo list --pretrained``) start in a fraction of a
second, and TensorFlow loads only when something needs it.
"""

import contextlib
import importlib
import importlib.util
import os
import re
import sys
import threading
import warnings

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

    def __getattr__(self, name):
        # the rest of the real loader's interface (get_filename, get_code, is_package, ...),
        # which callers of importlib.util.find_spec (runpy, pkgutil) use without importing
        return getattr(self.loader, name)

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


# el_zoo's modules that register Keras custom objects (its layers, a quantizer) when they are
# imported, by name: importing them is registering them. Named, not imported: they are of
# higher layers than this module and import TensorFlow (tests/test_keras_env.py checks that
# the list names every module that registers one).
CUSTOM_OBJECT_MODULES = ("el_zoo.layers", "el_zoo.binarization", "el_zoo.fold")

# The modules whose import brings in TensorFlow and Keras 2 (``import tensorflow`` itself
# imports ``tf_keras``, from the middle of its own ``__init__``) or el_zoo's custom objects.
# Whichever of them a process imports first, the others load inside its import or after it,
# so when its import is over none of them is half imported: the moment registering
# (importing CUSTOM_OBJECT_MODULES) can neither fail on a half-imported module nor import
# one of them again from inside itself.
KERAS_ENTRIES = ("tensorflow", "tf_keras", "larq", "el_zoo._keras", *CUSTOM_OBJECT_MODULES)

FALLBACK = "el_zoo.keras.models.load_model"


def load_model_call(path=None):
    """What every message tells a user to load a model saved whole with: ``FALLBACK``, called
    on ``path`` when given. Why that name and not ``tf.keras.models.load_model``: it knows
    el_zoo's layers whether or not registering them on import worked."""
    return FALLBACK if path is None else f"{FALLBACK}({os.fspath(path)!r})"


def register_custom_objects():
    """Imports CUSTOM_OBJECT_MODULES, so that Keras' own ``tf.keras.models.load_model``
    knows el_zoo's layers (and Larq's). Never raises (but KeyboardInterrupt and the like):
    if that fails, one warning naming FALLBACK, which raises the reason where it matters
    (an import that failed here fails there too)."""
    try:
        # el_zoo._keras first, as el_zoo's API imports it: el_zoo.keras is then tf.keras
        # itself (TensorFlow's lazy loader), as when the API comes first, not the copy of
        # Keras' API that Larq's import makes of it (a module named tensorflow.keras)
        for name in ("el_zoo._keras", *CUSTOM_OBJECT_MODULES):
            importlib.import_module(name)
    except Exception as error:  # any: the import that runs this one stands
        reason = (str(error).strip().splitlines() or [""])[0]
        with contextlib.suppress(Warning):  # `-W error`: the import stands all the same
            warnings.warn(
                f"el_zoo could not register its Keras layers ({type(error).__name__}: "
                f"{reason}), so tf.keras.models.load_model does not know them: load a saved "
                f"el_zoo model with {FALLBACK}", RuntimeWarning, stacklevel=3)


class _RegisteringLoader:
    """Runs the real loader of a module of KERAS_ENTRIES; if it is the first of them to be
    imported (``finder`` is still waiting), ``register_custom_objects`` once it has run. The
    module's loader is the real one afterwards."""

    def __init__(self, loader, finder):
        self.loader, self.finder = loader, finder

    def __getattr__(self, name):  # the rest of the real loader's interface, as _QuietLoader
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        # The first of them, if the finder still waits: then it goes now, so that the imports
        # inside this one, and registering's, pass it by.
        try:
            sys.meta_path.remove(self.finder)
        except ValueError:  # not the first: another one's import registers, or has
            self.loader.exec_module(module)
            return
        try:
            self.loader.exec_module(module)
        except BaseException:  # the import failed (its error stands): wait for the next
            sys.meta_path.insert(0, self.finder)
            raise
        register_custom_objects()


class _RegisterOnKerasImport:
    """A sys.meta_path finder for the first import of any of KERAS_ENTRIES, wherever it
    happens (``import tensorflow`` in the user's code, Larq, el_zoo's modules): the other
    finders find the module as usual, and its import runs through ``_RegisteringLoader``,
    which removes this finder when the import starts (not here: a library that only asks
    whether TensorFlow is installed, ``importlib.util.find_spec("tensorflow")``, imports
    nothing)."""

    def __init__(self):
        self._finding = threading.local()  # the name this thread is finding, if any

    def find_spec(self, name, path=None, target=None):
        if name not in KERAS_ENTRIES or getattr(self._finding, "name", None) == name:
            return None
        self._finding.name = name  # the other finders find it: not this one again
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding.name = None
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader, self)
        return spec


def _importing(module):
    """Whether ``module``'s import is still under way (Python marks its spec so)."""
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def register_custom_objects_on_keras_import():
    """Registers el_zoo's Keras layers once TensorFlow has loaded: after its coming import
    (or the first of KERAS_ENTRIES), or now if it has loaded already (then Keras 2 has too:
    ``select_keras_2`` saw to that, and the registering imports cost a fraction of a
    second). ``import el_zoo`` calls it, last, so that Keras' own
    ``tf.keras.models.load_model`` reads a saved el_zoo model."""
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is None:
        if not any(isinstance(finder, _RegisterOnKerasImport) for finder in sys.meta_path):
            sys.meta_path.insert(0, _RegisterOnKerasImport())
    elif not _importing(tensorflow):
        register_custom_objects()
    # else el_zoo is imported from inside TensorFlow's own import (a plug-in's?): too early
    # to register, too late to wait for it. Nothing is registered; the fallback works.
