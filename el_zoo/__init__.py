"""el_zoo: Elastic-Link binarized neural networks, a model zoo built on Larq.

Importing el_zoo sets ``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported, so that
``tf.keras`` is Keras 2 (``tf_keras``), which Larq and Larq Compute Engine need. If your
program imports TensorFlow and touches ``tf.keras`` before el_zoo, set the variable yourself
(``export TF_USE_LEGACY_KERAS=1``); el_zoo then raises a clear ImportError instead of failing
deep inside Larq.
"""

import os

# Must happen before the first `import tensorflow` anywhere in the process.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from el_zoo._keras import keras  # noqa: E402  (checks that tf.keras is Keras 2)
from el_zoo.layers import ElasticLink, PooledShortcut, RPReLU, RSign, Standardize  # noqa: E402
from el_zoo.registry import list_models, load, register_model  # noqa: E402
from el_zoo.profile import profile  # noqa: E402
from el_zoo.convert import convert, verify  # noqa: E402
from el_zoo.evaluate import evaluate, predict  # noqa: E402
from el_zoo import nets  # noqa: E402,F401  (registers every family)

__version__ = "0.1.0"

__all__ = [
    "ElasticLink",
    "PooledShortcut",
    "RPReLU",
    "RSign",
    "Standardize",
    "convert",
    "evaluate",
    "keras",
    "list_models",
    "load",
    "predict",
    "profile",
    "register_model",
    "verify",
]
