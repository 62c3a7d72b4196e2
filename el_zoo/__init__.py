"""el_zoo: Elastic-Link binarized neural networks, a model zoo built on Larq.

Importing el_zoo sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported, so that
``tf.keras`` is Keras 2 (``tf_keras``), which Larq and Larq Compute Engine need. If your
program imports TensorFlow before el_zoo, set the variable yourself
(``export TF_USE_LEGACY_KERAS=1``) or import el_zoo first; otherwise ``import el_zoo`` raises
a clear ImportError instead of failing deep inside Larq.

TensorFlow itself loads when a model is first built or a part of the API below that needs it
is first used (``el_zoo.ElasticLink``, ``el_zoo.convert``, ...), not on ``import el_zoo``, so
that ``el-zoo --help`` answers at once. Once TensorFlow has loaded, whoever imported it,
el_zoo's Keras layers are registered, so that Keras' own ``tf.keras.models.load_model``
reads a model saved whole (``el_zoo/_tensorflow.py``). ``import el_zoo`` imports the
model families (``el_zoo.nets``, which register their models and import no TensorFlow),
so the registry lists every model whichever el_zoo module is imported first.
"""

import importlib
import os
import sys
import types

from el_zoo import _tensorflow

_tensorflow.select_keras_2()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ info lines and warnings
_tensorflow.quiet_tensorflow_import()

__version__ = "0.1.0"

# The public API and the module each name comes from. A name from a module that needs no
# TensorFlow (LIGHT_MODULES) imports its module only, so that listing models stays fast;
# any other imports them all (TensorFlow, the layers), as `import el_zoo` did.
_API = {
    "keras": "el_zoo._keras",
    "ElasticLink": "el_zoo.layers",
    "ElasticLinkOptions": "el_zoo.elastic_link",
    "PooledShortcut": "el_zoo.layers",
    "RPReLU": "el_zoo.layers",
    "RSign": "el_zoo.layers",
    "Standardize": "el_zoo.layers",
    "list_models": "el_zoo.registry",
    "load": "el_zoo.builder",
    "register_model": "el_zoo.registry",
    "save_weights": "el_zoo.builder",
    "profile": "el_zoo.profile",
    "convert": "el_zoo.convert",
    "verify": "el_zoo.convert",
    "evaluate": "el_zoo.evaluate",
    "predict": "el_zoo.evaluate",
}

__all__ = sorted(_API, key=str.lower)
LIGHT_MODULES = ("el_zoo.elastic_link", "el_zoo.registry", "el_zoo.builder")


class _Package(types.ModuleType):
    """el_zoo's module type. Three functions of the API share their module's name
    (``el_zoo.evaluate`` in ``el_zoo/evaluate.py``): importing such a submodule would make
    the package's attribute the module, and ``el_zoo.evaluate(...)`` would fail whenever it
    was imported before the API was (listing models, which needs no TensorFlow, does not
    import the API). ``el_zoo.<name>`` stays the function; ``sys.modules`` has the module."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _API.get(name) == value.__name__:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def _import_api():
    for name, module in _API.items():
        globals()[name] = getattr(importlib.import_module(module), name)


def __getattr__(name):
    """Imports the public API on first use, and submodules (``el_zoo.registry``) by name."""
    if name in _API:
        if _API[name] in LIGHT_MODULES:
            globals()[name] = getattr(importlib.import_module(_API[name]), name)
        else:
            _import_api()
        return globals()[name]
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))


# The families register their models (no TensorFlow: their layers load when a model is built).
# Imported last, once the package is complete, so a family may use any el_zoo module.
from el_zoo import nets  # noqa: E402, F401

# Keras' own tf.keras.models.load_model reads a saved el_zoo model: el_zoo's layers register
# as soon as TensorFlow has loaded (now, if it has already).
_tensorflow.register_custom_objects_on_keras_import()
